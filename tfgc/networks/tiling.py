"""Run a convolutional network over an image in tiles of latent rows, so memory stays bounded
for any image size and time grows linearly with the pixels.

Each tile of rows `[a, b)` is computed from rows `[a - halo, b + halo)` (clipped to the image)
and cropped back, so when `halo` covers the network's receptive field and its norms are
per-pixel (channel norm, inference batch norm, none) the tiles are exactly the rows the whole
image would give: tiles start on latent-row boundaries, which keeps every stride-2 and x2 layer
on the same pixel grid. Instance norm needs whole-image statistics: such networks are not
tiled (`tileable`). Graph code (a `tf.while_loop` over tiles, one tile in flight at a time), so
the exported SavedModels run the same tiles as the Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

# Norms that act on each pixel on its own (inference), so tiles need no shared statistics.
PER_PIXEL_NORMS = ("channel", "batch", "none")
# Work per tile, in latent positions (rows x columns, halo included): one latent position is
# 16 x 16 pixels, so this is ~2 MP per tile. Peak memory scales with it, not with the image.
DEFAULT_TILE_POSITIONS = 8192


def tileable(*norms: str) -> bool:
    """Whether a network with these norms gives the same rows tiled as whole."""
    return all(norm in PER_PIXEL_NORMS for norm in norms)


def tile_rows(rows: tf.Tensor, columns: tf.Tensor, halo: int,
              tile_positions: int = DEFAULT_TILE_POSITIONS) -> tf.Tensor:
    """Output rows per tile (int32 >= 1): as many as fit `tile_positions` with the halo."""
    budget = min(int(tile_positions), tf.int32.max)  # larger budgets: one tile anyway
    fit = budget // tf.maximum(tf.cast(columns, tf.int32), 1) - 2 * halo
    return tf.clip_by_value(fit, 1, tf.maximum(tf.cast(rows, tf.int32), 1))


def map_row_tiles(fn: Callable[..., tf.Tensor], inputs: Sequence[tf.Tensor], rows: tf.Tensor,
                  rows_per_tile: tf.Tensor, halo: int, dtype: tf.DType, in_scale: int = 1,
                  out_scale: int = 1) -> tf.Tensor:
    """`fn(*inputs)` computed in tiles of `rows_per_tile` latent rows, concatenated on axis 0.

    inputs: tensors [1, in_scale * rows, W, C] (latent row r is input rows `in_scale * r` to
    `in_scale * (r + 1) - 1`); fn maps such slices of r' latent rows to [1, out_scale * r',
    W', C'] of `dtype` (a generator: in 1, out 16; an encoder: in 16, out 1). Returns fn's
    output without the batch dimension, [out_scale * rows, W', C'].
    """
    rows = tf.cast(rows, tf.int32)
    rows_per_tile = tf.cast(rows_per_tile, tf.int32)
    num_tiles = (rows + rows_per_tile - 1) // rows_per_tile

    tile_shape = []

    def body(i, out):
        start = i * rows_per_tile
        stop = tf.minimum(start + rows_per_tile, rows)
        first = tf.maximum(start - halo, 0)
        last = tf.minimum(stop + halo, rows)
        tile = fn(*[x[:, in_scale * first:in_scale * last] for x in inputs])
        tile_shape.append(tile.shape[2:])  # static shape, seen while tracing
        return i + 1, out.write(i, tile[0, out_scale * (start - first):
                                           out_scale * (stop - first)])

    out = tf.TensorArray(dtype, size=num_tiles, infer_shape=False)
    # parallel_iterations=1: one tile in flight, or the loop would hold several in memory.
    _, out = tf.while_loop(lambda i, _: i < num_tiles, body, (tf.constant(0), out),
                           parallel_iterations=1)
    result = out.concat()
    result.set_shape(tf.TensorShape([None]).concatenate(tile_shape[0]))
    return result
