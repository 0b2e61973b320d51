"""Encoder E (paper Appendix E): c7s1-60, d120, d240, d480, d960, c3s1-C.

Output is H/16 x W/16 x C for any H, W that are multiples of 16. The last conv has no norm
and no activation: its output goes straight to the quantizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfgc.layers.blocks import ConvNormReLU, Downsample, PaddedConv
from tfgc.networks import tiling
from tfgc.networks.widths import scaled_all


class Encoder(tf.keras.Model):
    def __init__(self, num_channels: int, filters: Sequence[int] = (60, 120, 240, 480, 960),
                 norm: str = "instance", padding: str = "reflect",
                 width_multiplier: float = 1.0, name: str = "encoder"):
        super().__init__(name=name)
        widths = scaled_all(filters, width_multiplier)
        self.num_channels = int(num_channels)
        self.downsampling_factor = 2 ** (len(widths) - 1)
        self.blocks = [ConvNormReLU(widths[0], 7, norm, padding, name=f"c7s1_{widths[0]}")]
        self.blocks += [Downsample(k, norm, name=f"d{k}") for k in widths[1:]]
        self.to_latent = PaddedConv(num_channels, 3, padding, name=f"c3s1_{num_channels}")
        self.norm = norm
        # Latent rows of context each latent row needs on either side: the 7x7 conv and the
        # stride-2 convs, then the final 3x3 conv (one latent row).
        self.tile_halo = tiling.downsampling_halo(self.downsampling_factor) + 1

    def call(self, images: tf.Tensor) -> tf.Tensor:
        """images: float in [-1, 1], [B, H, W, 3] -> latents [B, H/16, W/16, C]."""
        x = images
        for block in self.blocks:
            x = block(x)
        return self.to_latent(x)

    def row_tiles(self, rows, columns, tile_positions: int) -> tiling.RowTiles:
        """The tiles of a [rows x columns] latent (one tile if the norm is not per-pixel)."""
        return tiling.RowTiles.plan(rows, columns, self.tile_halo, tile_positions,
                                    tiled=tiling.tileable(self.norm))

    def latents_in_tiles(self, images: tf.Tensor,
                         tile_positions: int = tiling.DEFAULT_TILE_POSITIONS) -> tf.Tensor:
        """`self(images)[0]` for ONE image [1, H, W, 3] (H, W multiples of 16), in tiles of
        latent rows so memory is bounded. Equal to the untiled result when the norm is
        per-pixel; the whole image at once otherwise (instance norm)."""
        factor = self.downsampling_factor
        rows, columns = tf.shape(images)[1] // factor, tf.shape(images)[2] // factor
        return self.row_tiles(rows, columns, tile_positions).map(
            lambda first, last: tf.cast(self(images[:, factor * first:factor * last]),
                                        tf.float32), tf.float32)

    def rescale_output(self, factor: float) -> None:
        """Scales the final conv so latents start spread over several centers.

        With default init the latents have std ~0.03: every one quantises to the 0 center and the
        encoder gets no gradient (a 'dead start', seen in the CPU probe).
        """
        kernel, bias = self.to_latent.conv.kernel, self.to_latent.conv.bias
        kernel.assign(kernel * factor)
        bias.assign(bias * factor)
