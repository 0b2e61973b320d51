"""Padding images to the encoder's stride; shared by the codec graphs and the eval pipeline."""

from __future__ import annotations

import tensorflow as tf


def _padded(size: tf.Tensor, multiple: int) -> tf.Tensor:
    return (size + multiple - 1) // multiple * multiple


def edge_pad(image: tf.Tensor, multiple: int = 16) -> tf.Tensor:
    """Pads [..., H, W, C] at the bottom/right to multiples of `multiple` by repeating the last
    row/column; works down to 1x1 (mirror padding needs more pixels than it adds)."""
    rows_axis = image.shape.rank - 3
    height = tf.shape(image)[rows_axis]
    return edge_padded_rows(image, 0, _padded(height, multiple), multiple)


def edge_padded_rows(image: tf.Tensor, first: tf.Tensor, last: tf.Tensor,
                     multiple: int = 16) -> tf.Tensor:
    """Rows [first, last) of `edge_pad(image, multiple)`, without padding the whole image (a
    tile of a big one)."""
    rows_axis = image.shape.rank - 3
    shape = tf.shape(image)
    height, width = shape[rows_axis], shape[rows_axis + 1]
    image = tf.gather(image, tf.minimum(tf.range(first, last), height - 1), axis=rows_axis)
    return tf.gather(image, tf.minimum(tf.range(_padded(width, multiple)), width - 1),
                     axis=rows_axis + 1)
