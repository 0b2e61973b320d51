"""Scalar quantisation to L fixed centers with soft-to-hard gradients (Mentzer et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


class Quantizer(tf.keras.layers.Layer):
    """Maps each latent to its nearest center; gradients flow through a soft assignment.

    Forward: hard nearest-center values. Backward: gradient of the softmax(-temperature * d^2)
    weighted mean of the centers (straight-through). Returns the values and the integer symbols
    0..L-1 that the entropy coder writes.
    """

    def __init__(self, centers: Sequence[float], temperature: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if len(centers) < 2:
            raise ValueError("the quantizer needs at least 2 centers")
        if list(centers) != sorted(centers):
            raise ValueError(f"centers must be increasing, got {list(centers)}")
        self.centers_list = [float(c) for c in centers]
        self.temperature = float(temperature)
        self.centers = tf.constant(self.centers_list, tf.float32)

    @property
    def num_centers(self) -> int:
        return len(self.centers_list)

    def symbols(self, w: tf.Tensor) -> tf.Tensor:
        distance = tf.square(tf.expand_dims(tf.cast(w, tf.float32), -1) - self.centers)
        return tf.argmin(distance, axis=-1, output_type=tf.int32)

    def dequantize(self, symbols: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.centers, symbols)

    def soft_assignment(self, w: tf.Tensor) -> tf.Tensor:
        distance = tf.square(tf.expand_dims(tf.cast(w, tf.float32), -1) - self.centers)
        return tf.nn.softmax(-self.temperature * distance, axis=-1)

    def call(self, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        symbols = self.symbols(w)
        hard = self.dequantize(symbols)
        soft = tf.reduce_sum(self.soft_assignment(w) * self.centers, axis=-1)
        quantized = soft + tf.stop_gradient(hard - soft)
        return tf.cast(quantized, w.dtype), symbols

    def get_config(self):
        return {**super().get_config(), "centers": self.centers_list,
                "temperature": self.temperature}
