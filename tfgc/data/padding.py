"""Padding images to the encoder's stride; shared by the codec graphs and the eval pipeline."""

from __future__ import annotations

import tensorflow as tf


def edge_pad(image: tf.Tensor, multiple: int = 16) -> tf.Tensor:
    """Pads [..., H, W, C] at the bottom/right to multiples of `multiple` by repeating the last
    row/column; works down to 1x1 (mirror padding needs more pixels than it adds)."""
    rows_axis = image.shape.rank - 3
    shape = tf.shape(image)
    height, width = shape[rows_axis], shape[rows_axis + 1]
    rows = (height + multiple - 1) // multiple * multiple
    cols = (width + multiple - 1) // multiple * multiple
    image = tf.gather(image, tf.minimum(tf.range(rows), height - 1), axis=rows_axis)
    return tf.gather(image, tf.minimum(tf.range(cols), width - 1), axis=rows_axis + 1)
