"""Multi-scale PatchGAN discriminator D (pix2pixHD, as used by the paper).

Each scale is c4s2-64 (no norm), c4s2-128, c4s2-256, c4s1-512, c4s1-1 with LeakyReLU(0.2), and
returns every layer's output: the last is the patch logits, the rest feed feature matching.
A conditioning map (e.g. a semantic label map for GC(D+)) is concatenated to the input image.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfgc.layers.norms import make_norm
from tfgc.layers.spectral_norm import SpectralNormConv2D
from tfgc.networks.widths import scaled_all


def _conv(filters: int, stride: int, spectral_norm: bool) -> tf.keras.layers.Layer:
    conv = SpectralNormConv2D if spectral_norm else tf.keras.layers.Conv2D
    return conv(filters, 4, strides=stride, padding="same")


class PatchDiscriminator(tf.keras.Model):
    def __init__(self, filters: Sequence[int] = (64, 128, 256, 512), norm: str = "instance",
                 spectral_norm: bool = False, width_multiplier: float = 1.0, name=None):
        super().__init__(name=name)
        widths = scaled_all(filters, width_multiplier)
        strides = [2] * (len(widths) - 1) + [1]
        self.stages = []
        for i, (k, stride) in enumerate(zip(widths, strides)):
            layers = [_conv(k, stride, spectral_norm)]
            if i > 0:  # pix2pixHD: no norm on the first layer
                layers.append(make_norm(norm))
            layers.append(tf.keras.layers.LeakyReLU(0.2))
            self.stages.append(tf.keras.Sequential(layers, name=f"c4s{stride}_{k}"))
        self.stages.append(_conv(1, 1, spectral_norm))

    def call(self, x: tf.Tensor) -> list[tf.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(tf.keras.Model):
    """Applies PatchDiscriminators at scales 1, 1/2, 1/4, ... (3x3 average pooling between)."""

    def __init__(self, num_scales: int = 3, filters: Sequence[int] = (64, 128, 256, 512),
                 norm: str = "instance", spectral_norm: bool = False,
                 width_multiplier: float = 1.0, name: str = "discriminator"):
        super().__init__(name=name)
        self.scales = [PatchDiscriminator(filters, norm, spectral_norm, width_multiplier,
                                          name=f"scale_{i}") for i in range(num_scales)]
        self.downsample = tf.keras.layers.AveragePooling2D(3, strides=2, padding="same")

    def call(self, images: tf.Tensor, condition: tf.Tensor | None = None) -> list[list[tf.Tensor]]:
        """Returns, per scale, the list of layer outputs (last = patch logits)."""
        outputs = []
        x = images
        for i, discriminator in enumerate(self.scales):
            inputs = x
            if condition is not None:
                cond = tf.image.resize(condition, tf.shape(x)[1:3], method="nearest")
                inputs = tf.concat([x, tf.cast(cond, x.dtype)], axis=-1)
            outputs.append(discriminator(inputs))
            if i + 1 < len(self.scales):
                x = self.downsample(x)
        return outputs
