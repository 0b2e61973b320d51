"""Normalisation layers selectable by name from a config.

The CPU probe found instance norm in the encoder erases global colour and brightness (it
subtracts each channel's spatial mean); `channel` normalises each pixel across channels instead
(HiFiC's ChannelNorm), which keeps spatial statistics intact.
"""

from __future__ import annotations

import tensorflow as tf

NORMS = ("instance", "channel", "batch", "none")


class ChannelNorm(tf.keras.layers.Layer):
    """Per-pixel normalisation over channels with a learned per-channel scale and offset."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def make_norm(kind: str, name: str | None = None) -> tf.keras.layers.Layer:
    if kind == "instance":
        return tf.keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if kind == "channel":
        return ChannelNorm(name=name)
    if kind == "batch":
        return tf.keras.layers.BatchNormalization(name=name)
    if kind == "none":
        return tf.keras.layers.Activation("linear", name=name)
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")
