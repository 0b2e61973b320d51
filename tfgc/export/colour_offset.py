"""The colour-offset side channel of `.tfgc` files (docs/bitstream.md, section type 3).

The bundled GC model's global colour drifts by a few 8-bit levels per image (a GAN-phase
swing the model-side fixes tried did not remove; model card). A file may carry one signed
offset per channel that the decoder adds to G's output before rounding to 8 bits:

    pixel = clip(round(255 x) + offset, 0, 255)         x: G's output, [0, 1] nominal

(with offset 0 exactly the pixels of `modules.to_uint8`). The encoder runs G once on its own
symbols and picks, per channel, the offset in -128..127 that brings the decoded image's mean
nearest the original's, exactly, clipping included: a histogram of G's rounded levels gives
the decoded sum for every candidate offset.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgc.coding.format import COLOUR_OFFSET_BYTES, MAX_COLOUR_OFFSET, MIN_COLOUR_OFFSET

# G's rounded levels below/above these give 0/255 for every offset: the histogram's range.
LOWEST_LEVEL = -MAX_COLOUR_OFFSET - 1
HIGHEST_LEVEL = 255 - MIN_COLOUR_OFFSET
NUM_LEVELS = HIGHEST_LEVEL - LOWEST_LEVEL + 1  # 512
CHANNELS = COLOUR_OFFSET_BYTES


def output_levels(images: tf.Tensor) -> tf.Tensor:
    """G's output [..., 3] in [0, 1] -> round(255 x) as int32, held to the levels any offset
    can tell apart (LOWEST_LEVEL..HIGHEST_LEVEL)."""
    return tf.cast(tf.clip_by_value(tf.round(images * 255.0), LOWEST_LEVEL, HIGHEST_LEVEL),
                   tf.int32)


def to_pixels(levels: tf.Tensor, colour_offset: tf.Tensor) -> tf.Tensor:
    """What a decoder outputs: `output_levels` [..., 3] plus the file's offset (int [3]),
    clipped to 8 bits. Offset 0 gives `modules.to_uint8`'s pixels exactly."""
    return tf.cast(tf.clip_by_value(levels + tf.cast(colour_offset, tf.int32), 0, 255),
                   tf.uint8)


def level_histogram(levels: tf.Tensor) -> tf.Tensor:
    """int64 [3, NUM_LEVELS]: how many pixels of each channel have each level."""
    cells = (tf.reshape(levels, [-1, CHANNELS]) - LOWEST_LEVEL) + NUM_LEVELS * tf.range(CHANNELS)
    return tf.reshape(tf.math.bincount(tf.reshape(cells, [-1]), minlength=CHANNELS * NUM_LEVELS,
                                       maxlength=CHANNELS * NUM_LEVELS, dtype=tf.int64),
                      [CHANNELS, NUM_LEVELS])


def tile_statistics(levels: tf.Tensor, image: tf.Tensor, first_row) -> tuple[tf.Tensor,
                                                                               tf.Tensor]:
    """What one of G's tiles adds to `choose`'s inputs: the histogram of its levels
    ([rows, W', 3], from row `first_row` of the padded image) inside the uint8 image [H, W, 3]
    (the offset matches the original's mean, not the edge padding's), and the original's
    channel sums (int64 [3]) over the same rows. Tile by tile, so no int64 copy of a whole
    big image is made."""
    original = image[first_row:first_row + tf.shape(levels)[0]]
    inside = levels[:tf.shape(original)[0], :tf.shape(image)[1]]
    return level_histogram(inside), tf.reduce_sum(tf.cast(original, tf.int64), [0, 1])


def _decoded_levels_np() -> np.ndarray:
    """[offsets, levels]: the 8-bit value a level gives under each offset."""
    offsets = np.arange(MIN_COLOUR_OFFSET, MAX_COLOUR_OFFSET + 1)[:, None]
    return np.clip(np.arange(LOWEST_LEVEL, HIGHEST_LEVEL + 1)[None] + offsets, 0, 255)


def choose(histogram: tf.Tensor, original_sums: tf.Tensor) -> tf.Tensor:
    """int32 [3]: per channel, the offset whose decoded channel sum (from `histogram`, G's
    levels) is nearest `original_sums` (int64 [3], the original image's); ties go to the
    smaller |offset|, then the negative one. Integer arithmetic only: the same offset
    everywhere."""
    offsets = np.arange(MIN_COLOUR_OFFSET, MAX_COLOUR_OFFSET + 1)
    decoded = tf.constant(_decoded_levels_np(), tf.int64)
    sums = tf.reduce_sum(histogram[:, None, :] * decoded[None], axis=-1)  # [3, offsets]
    error = tf.abs(sums - tf.cast(original_sums, tf.int64)[:, None])
    tie_break = tf.constant(2 * np.abs(offsets) + (offsets > 0), tf.int64)
    best = tf.argmin(error * 512 + tie_break[None], axis=1)
    return tf.cast(best, tf.int32) + MIN_COLOUR_OFFSET
