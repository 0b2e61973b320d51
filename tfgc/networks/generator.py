"""Generator G (paper Appendix E): c3s1-960, R960 x9, u480, u240, u120, u60, c7s1-3, tanh.

G takes the quantised latents, optionally concatenated with noise and with a conditioning map
(a semantic label map, used by the selective-compression mode) at latent resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from tfgc.layers.blocks import ConvNormReLU, PaddedConv, ResidualBlock, Upsample
from tfgc.networks import tiling
from tfgc.networks.widths import scaled, scaled_all


class Generator(tf.keras.Model):
    def __init__(self, filters: int = 960, num_residual_blocks: int = 9,
                 upsample_filters: Sequence[int] = (480, 240, 120, 60),
                 norm: str = "instance", upsample_norm: str = "instance",
                 upsampling: str = "transpose", padding: str = "reflect",
                 width_multiplier: float = 1.0, name: str = "generator"):
        super().__init__(name=name)
        width = scaled(filters, width_multiplier)
        ups = scaled_all(upsample_filters, width_multiplier)
        self.upsampling_factor = 2 ** len(ups)
        self.trunk_channels = width  # channels of `trunk`'s output
        self.head = ConvNormReLU(width, 3, upsample_norm, padding, name=f"c3s1_{width}")
        self.residual_blocks = [ResidualBlock(width, norm, padding, name=f"R{width}_{i}")
                                for i in range(num_residual_blocks)]
        self.upsampling = [Upsample(k, upsample_norm, upsampling, padding, name=f"u{k}_{i}")
                           for i, k in enumerate(ups)]
        self.to_image = PaddedConv(3, 7, padding, name="c7s1_3")
        self.upsample_norm = upsample_norm
        self.upsampling_factor = 2 ** len(ups)
        # Latent rows of context each upsampled row needs on either side: one pixel per uk
        # (a 3x3 conv at its output scale for resize_conv, at its input scale otherwise),
        # then the 7x7 output conv (3 pixels) at full resolution.
        first = 1 if upsampling == "resize_conv" else 0
        self.upsample_halo = math.ceil(sum(2.0 ** -(i + first) for i in range(len(ups)))
                                       + 3 / self.upsampling_factor)

    def trunk(self, latents: tf.Tensor, noise: tf.Tensor | None = None,
              condition: tf.Tensor | None = None) -> tf.Tensor:
        """The latent-resolution part: c3s1 head and residual blocks -> [B, h, w, width]."""
        inputs = [latents] + [t for t in (noise, condition) if t is not None]
        x = tf.concat(inputs, axis=-1) if len(inputs) > 1 else latents
        x = self.head(x)
        # pix2pixHD's global generator has no skip around the residual stack; keep it that way.
        for block in self.residual_blocks:
            x = block(x)
        return x

    def upsample(self, features: tf.Tensor) -> tf.Tensor:
        """The upsampling part: trunk features -> image in [-1, 1] (16x larger)."""
        x = features
        for block in self.upsampling:
            x = block(x)
        return tf.tanh(tf.cast(self.to_image(x), tf.float32))

    def call(self, latents: tf.Tensor, noise: tf.Tensor | None = None,
             condition: tf.Tensor | None = None) -> tf.Tensor:
        """latents [B, h, w, C] (+ noise, condition at the same h, w) -> image in [-1, 1]."""
        return self.upsample(self.trunk(latents, noise, condition))

    def row_tiles(self, features: tf.Tensor, tile_positions: int) -> tiling.RowTiles:
        """The tiles in which `upsample` runs over trunk `features` [1, h, w, width] (one tile
        if the upsampling norm is not per-pixel)."""
        shape = tf.shape(features)
        return tiling.RowTiles.plan(shape[1], shape[2], self.upsample_halo, tile_positions,
                                    self.upsampling_factor,
                                    tiled=tiling.tileable(self.upsample_norm))

    def images_in_tiles(self, latents: tf.Tensor, noise: tf.Tensor | None = None,
                        condition: tf.Tensor | None = None, finish=tf.identity,
                        dtype: tf.DType = tf.float32,
                        tile_positions: int = tiling.DEFAULT_TILE_POSITIONS) -> tf.Tensor:
        """`finish(self(latents, ...))[0]` for ONE image, upsampled in tiles of latent rows so
        memory is bounded (the trunk runs whole: it is 256x smaller). Equal to the untiled
        result when the upsampling norm is per-pixel; whole image otherwise (instance norm).
        finish: e.g. a conversion to uint8, applied per tile (of output `dtype`)."""
        features = self.trunk(latents, noise, condition)
        return self.row_tiles(features, tile_positions).map(
            lambda first, last: finish(self.upsample(features[:, first:last])), dtype)
