"""Feature extractor F of selective compression (paper Sec. 4.2, Fig. 9, Appendix E).

F maps the one-hot label map s [B, H, W, K] to features at latent resolution
[B, H/16, W/16, k_last] that G reads beside the (masked) quantised latents: c7s1-60, d120,
d240, d480, d960, the encoder's layout without the bottleneck conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfgc.layers.blocks import ConvNormReLU, Downsample
from tfgc.networks import tiling
from tfgc.networks.widths import scaled_all


def one_hot_labels(train_ids: tf.Tensor, num_classes: int) -> tf.Tensor:
    """F's input: float one-hot [..., K] of integer train ids; IGNORE (or any id >= K) is
    all zeros."""
    train_ids = tf.cast(train_ids, tf.int32)
    return tf.one_hot(tf.where(train_ids < num_classes, train_ids, -1), num_classes)


class SemanticFeatureExtractor(tf.keras.Model):
    def __init__(self, filters: Sequence[int] = (60, 120, 240, 480, 960),
                 norm: str = "instance", padding: str = "reflect",
                 width_multiplier: float = 1.0, name: str = "semantic_features"):
        super().__init__(name=name)
        widths = scaled_all(filters, width_multiplier)
        self.downsampling_factor = 2 ** (len(widths) - 1)
        self.blocks = [ConvNormReLU(widths[0], 7, norm, padding, name=f"c7s1_{widths[0]}")]
        self.blocks += [Downsample(k, norm, name=f"d{k}") for k in widths[1:]]
        self.norm = norm
        # Latent rows of context each output row needs on either side (the encoder's layout
        # without its final conv).
        self.tile_halo = tiling.downsampling_halo(self.downsampling_factor)

    def call(self, label_map: tf.Tensor) -> tf.Tensor:
        """One-hot label map [B, H, W, K] (H, W multiples of 16) -> [B, H/16, W/16, k_last]."""
        x = label_map
        for block in self.blocks:
            x = block(x)
        return x

    def row_tiles(self, rows, columns, tile_positions: int) -> tiling.RowTiles:
        """The tiles of a [rows x columns] latent (one tile if the norm is not per-pixel)."""
        return tiling.RowTiles.plan(rows, columns, self.tile_halo, tile_positions,
                                    tiled=tiling.tileable(self.norm))

    def features_in_tiles(self, train_ids: tf.Tensor, num_classes: int,
                          tile_positions: int = tiling.DEFAULT_TILE_POSITIONS) -> tf.Tensor:
        """`self(one_hot_labels(train_ids))` for ONE image's train ids [H, W] (multiples of
        16) -> float32 [1, H/16, W/16, k_last], in tiles of latent rows: only one tile's
        one-hot map and activations are alive (the whole one-hot map of a 24 MP image with
        19 classes is 1.8 GB). Equal to the untiled result up to float rounding when the norm
        is per-pixel; the whole image at once otherwise (instance norm)."""
        factor = self.downsampling_factor
        rows, columns = tf.shape(train_ids)[0] // factor, tf.shape(train_ids)[1] // factor

        def tile(first, last):
            one_hot = one_hot_labels(train_ids[factor * first:factor * last], num_classes)
            return tf.cast(self(one_hot[tf.newaxis], training=False), tf.float32)

        return self.row_tiles(rows, columns, tile_positions).map(tile, tf.float32)[tf.newaxis]
