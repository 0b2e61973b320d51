"""A ResNet WGAN-GP generator and critic for GC codes w_hat [h, w, C] (paper Sec. 6.1, Fig. 6).

Gulrajani et al.'s ResNet GAN with the output adjusted from an RGB image to a code: z -> dense
to the code's size / 2**num_upsamplings -> residual up blocks -> C channels, squashed into the
quantiser's range [min center, max center]. Samples are snapped to the nearest center before
GC's generator decodes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


class _ResBlock(tf.keras.layers.Layer):
    """Pre-activation residual block, optionally x2 up- or down-sampling (WGAN-GP ResNet)."""

    def __init__(self, filters: int, resample: str | None, norm: bool, name=None):
        super().__init__(name=name)
        self.resample = resample
        make_norm = ((lambda: tf.keras.layers.BatchNormalization()) if norm
                     else (lambda: tf.keras.layers.Layer()))
        self.norm1, self.norm2 = make_norm(), make_norm()
        self.conv1 = tf.keras.layers.Conv2D(filters, 3, padding="same")
        self.conv2 = tf.keras.layers.Conv2D(filters, 3, padding="same")
        self.shortcut = tf.keras.layers.Conv2D(filters, 1)

    def _resample(self, x):
        if self.resample == "up":
            return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        if self.resample == "down":
            return tf.nn.avg_pool2d(x, 2, 2, "SAME")
        return x

    def call(self, x, training=False):
        h = tf.nn.relu(self.norm1(x, training=training))
        h = self.conv1(self._resample(h))
        h = self.conv2(tf.nn.relu(self.norm2(h, training=training)))
        return self._resample(self.shortcut(x)) + h


class CodePriorGenerator(tf.keras.Model):
    def __init__(self, code_shape: Sequence[int], centers: Sequence[float],
                 latent_dim: int = 128, width: int = 64, num_upsamplings: int = 2,
                 name: str = "code_prior_generator"):
        super().__init__(name=name)
        h, w, c = (int(d) for d in code_shape)
        factor = 2**num_upsamplings
        if h % factor or w % factor:
            raise ValueError(f"code {h}x{w} must be a multiple of {factor} (2**num_upsamplings)")
        self.code_shape, self.latent_dim = (h, w, c), latent_dim
        self.low, self.high = float(min(centers)), float(max(centers))
        self.project = tf.keras.layers.Dense(h // factor * w // factor * width)
        self.start = (h // factor, w // factor, width)
        self.blocks = [_ResBlock(width, "up", True, name=f"up{i}")
                       for i in range(num_upsamplings)]
        self.norm = tf.keras.layers.BatchNormalization()
        self.to_code = tf.keras.layers.Conv2D(c, 3, padding="same")

    def call(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """z [B, latent_dim] -> continuous codes [B, h, w, C] in the centers' range."""
        x = tf.reshape(self.project(z), [-1, *self.start])
        for block in self.blocks:
            x = block(x, training=training)
        x = self.to_code(tf.nn.relu(self.norm(x, training=training)))
        return self.low + (self.high - self.low) * (tf.tanh(x) + 1.0) / 2.0


class CodePriorCritic(tf.keras.Model):
    """No batch norm (the gradient penalty needs per-sample gradients)."""

    def __init__(self, width: int = 64, num_downsamplings: int = 2,
                 name: str = "code_prior_critic"):
        super().__init__(name=name)
        self.blocks = [_ResBlock(width, "down", False, name=f"down{i}")
                       for i in range(num_downsamplings)]
        self.block = _ResBlock(width, None, False, name="res")
        self.head = tf.keras.layers.Dense(1)

    def call(self, codes: tf.Tensor) -> tf.Tensor:
        x = codes
        for block in [*self.blocks, self.block]:
            x = block(x)
        return self.head(tf.reduce_mean(tf.nn.relu(x), axis=[1, 2]))[:, 0]
