"""Padding images to the encoder's stride; shared by the codec graphs and the eval pipeline."""

from __future__ import annotations

import tensorflow as tf


def edge_pad(image: tf.Tensor, multiple: int = 16) -> tf.Tensor:
    """Pads [H, W, C] at the bottom/right to multiples of `multiple` by repeating the last
    row/column; works down to 1x1 (mirror padding needs more pixels than it adds)."""
    shape = tf.shape(image)
    rows = (shape[0] + multiple - 1) // multiple * multiple
    cols = (shape[1] + multiple - 1) // multiple * multiple
    image = tf.gather(image, tf.minimum(tf.range(rows), shape[0] - 1), axis=0)
    return tf.gather(image, tf.minimum(tf.range(cols), shape[1] - 1), axis=1)
