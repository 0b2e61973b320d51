"""Run a convolutional network over an image in tiles of latent rows, so memory stays bounded
for any image size and time grows linearly with the pixels.

Each tile of rows `[a, b)` is computed from rows `[a - halo, b + halo)` (clipped to the image)
and cropped back, so when `halo` covers the network's receptive field and its norms are
per-pixel (channel norm, inference batch norm, none) the tiles are exactly the rows the whole
image would give: tiles start on latent-row boundaries, which keeps every stride-2 and x2 layer
on the same pixel grid. Instance norm needs whole-image statistics: such networks run as one
tile (`tileable`).

A `RowTiles` plan is graph code, run two ways with the same tiles: `map` loops over them inside
one graph call (the SavedModels' single-call signatures), and `tile(i)` computes one, so a
Python caller can drive the loop and report progress (the codec API and CLI). Either way one
tile is in flight at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

# Norms that act on each pixel on its own (inference), so tiles need no shared statistics.
PER_PIXEL_NORMS = ("channel", "batch", "none")
# Work per tile, in latent positions (rows x columns, halo included): one latent position is
# 16 x 16 pixels, so this is ~2 MP per tile. Peak memory scales with it, not with the image.
DEFAULT_TILE_POSITIONS = 8192

# fn(first, last): the network's output for latent rows [first, last) of the image, batch 1.
RowsFunction = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def downsampling_halo(factor: int, first_pad: int = 3) -> int:
    """Latent rows of context on either side for a c7s1 conv (`first_pad` pixels) followed by
    3x3 stride-2 convs down to 1/`factor`: each reads at most one input row past its cell
    (1 + 2 + ... + factor/2 = factor - 1 pixels in all), so latent row r needs pixel rows
    factor * r - first_pad to factor * (r + 1) + first_pad + factor - 2."""
    return math.ceil((first_pad + factor - 1) / factor)


def tileable(*norms: str) -> bool:
    """Whether a network with these norms gives the same rows tiled as whole."""
    return all(norm in PER_PIXEL_NORMS for norm in norms)


def tile_rows(rows: tf.Tensor, columns: tf.Tensor, halo: int,
              tile_positions: int = DEFAULT_TILE_POSITIONS) -> tf.Tensor:
    """Output rows per tile (int32 >= 1): as many as fit `tile_positions` with the halo."""
    budget = min(int(tile_positions), tf.int32.max)  # larger budgets: one tile anyway
    fit = budget // tf.maximum(tf.cast(columns, tf.int32), 1) - 2 * halo
    return tf.clip_by_value(fit, 1, tf.maximum(tf.cast(rows, tf.int32), 1))


@dataclass
class RowTiles:
    """`rows` latent rows in tiles of `rows_per_tile`, each computed with `halo` rows of
    context on either side; `out_scale` output rows per latent row (16 for G, 1 for E)."""

    rows: tf.Tensor
    rows_per_tile: tf.Tensor
    halo: int
    out_scale: int = 1
    whole: bool = False  # one tile, run on the whole image (instance norm)

    @classmethod
    def plan(cls, rows, columns, halo: int, tile_positions: int, out_scale: int = 1,
             tiled: bool = True) -> RowTiles:
        rows = tf.cast(rows, tf.int32)
        if not tiled:
            return cls(rows, tf.maximum(rows, 1), halo, out_scale, whole=True)
        return cls(rows, tile_rows(rows, columns, halo, tile_positions), halo, out_scale)

    def count(self) -> tf.Tensor:
        return (self.rows + self.rows_per_tile - 1) // self.rows_per_tile

    def first_row(self, index) -> tf.Tensor:
        """The first output row of tile `index` (int32)."""
        return self.out_scale * tf.cast(index, tf.int32) * self.rows_per_tile

    def tile(self, fn: RowsFunction, index) -> tf.Tensor:
        """Tile `index`'s output rows (without the batch dimension)."""
        if self.whole:
            return fn(0, self.rows)[0]
        start = tf.cast(index, tf.int32) * self.rows_per_tile
        stop = tf.minimum(start + self.rows_per_tile, self.rows)
        first = tf.maximum(start - self.halo, 0)
        last = tf.minimum(stop + self.halo, self.rows)
        out = fn(first, last)
        return out[0, self.out_scale * (start - first):self.out_scale * (stop - first)]

    def map(self, fn: RowsFunction, dtype: tf.DType) -> tf.Tensor:
        """All tiles' rows concatenated: fn's output for all rows, without the batch dimension."""
        if self.whole:
            return self.tile(fn, 0)
        tile_shape = []

        def body(i, out):
            tile = self.tile(fn, i)
            tile_shape.append(tile.shape[1:])  # static shape, seen while tracing
            return i + 1, out.write(i, tile)

        out = tf.TensorArray(dtype, size=self.count(), infer_shape=False)
        # parallel_iterations=1: one tile in flight, or the loop would hold several in memory.
        _, out = tf.while_loop(lambda i, _: i < self.count(), body, (tf.constant(0), out),
                               parallel_iterations=1)
        result = out.concat()
        result.set_shape(tf.TensorShape([None]).concatenate(tile_shape[0]))
        return result


def slice_rows(inputs: tf.Tensor, in_scale: int = 1) -> RowsFunction:
    """The rows function of a tensor [1, in_scale * rows, ...] (latent row r is its rows
    in_scale * r to in_scale * (r + 1) - 1), to compose with a network: `net(slice(a, b))`."""
    return lambda first, last: inputs[:, in_scale * first:in_scale * last]
