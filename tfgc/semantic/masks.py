"""Preservation masks for selective compression (SC), paper Sec. 4.2.

A mask is 1 where the image is preserved (its latents are coded) and 0 where it is synthesised
from the label map. Users and the training pipeline give masks at pixel resolution; the model
keeps a latent position if any of its pixels is preserved (`to_latent`), so a preserved object
is never cut. Training draws masks in one of three modes:

* `ri`  random instances: a random 25% of the instances (from the instance map) are preserved;
* `rb`  random box: a box of random size around a uniformly random location;
* `all_synthesised`: nothing is preserved (the whole image comes from the label map).
"""

from __future__ import annotations

import tensorflow as tf

TRAIN_MODES = ("ri", "rb", "all_synthesised")
INSTANCE_FRACTION = 0.25


def random_instance_mask(instances: tf.Tensor, seed: tf.Tensor,
                         fraction: float = INSTANCE_FRACTION) -> tf.Tensor:
    """[H, W] instance ids -> float [H, W, 1]: ceil(fraction * n) of the n instances kept.
    `seed` (shape [2] integers) makes the draw a function of the seed (stateless ops)."""
    ids, _ = tf.unique(tf.reshape(instances, [-1]))
    n = tf.size(ids)
    keep = tf.cast(tf.math.ceil(fraction * tf.cast(n, tf.float32)), tf.int32)
    chosen = tf.random.experimental.stateless_shuffle(ids, seed)[:keep]
    hit = tf.reduce_any(tf.equal(instances[..., None], chosen), axis=-1)
    return tf.cast(hit, tf.float32)[..., None]


def random_box_mask(height: tf.Tensor | int, width: tf.Tensor | int, seed: tf.Tensor
                    ) -> tf.Tensor:
    """float [H, W, 1]: a box with uniform random sides (1..H, 1..W) centred at a uniform
    random pixel, clipped to the image; a function of `seed` (shape [2] integers)."""
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    cy, cx, bh, bw = (tf.random.stateless_uniform([], s, low, high, tf.int32) for s, low, high
                      in zip(seeds, (0, 0, 1, 1), (height, width, height + 1, width + 1)))
    return box_mask(height, width, cy - bh // 2, cx - bw // 2, cy - bh // 2 + bh,
                    cx - bw // 2 + bw)


def box_mask(height, width, y0, x0, y1, x1) -> tf.Tensor:
    """float [H, W, 1]: 1 on rows y0..y1-1 and columns x0..x1-1 (clipped)."""
    rows = tf.range(height)
    cols = tf.range(width)
    inside_rows = tf.logical_and(rows >= y0, rows < y1)
    inside_cols = tf.logical_and(cols >= x0, cols < x1)
    inside = tf.logical_and(inside_rows[:, None], inside_cols[None, :])
    return tf.cast(inside, tf.float32)[..., None]


def random_training_mask(mode: str, instances: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One training example's pixel mask [H, W, 1] for a mode of TRAIN_MODES, a function of
    `seed` (shape [2] integers)."""
    shape = tf.shape(instances)
    if mode == "ri":
        return random_instance_mask(instances, seed)
    if mode == "rb":
        return random_box_mask(shape[0], shape[1], seed)
    if mode == "all_synthesised":
        return tf.zeros(tf.concat([shape, [1]], 0))
    raise ValueError(f"unknown preservation mode {mode!r}; choose from {TRAIN_MODES}")


def to_latent(pixel_mask: tf.Tensor, stride: int) -> tf.Tensor:
    """[B, H, W, 1] pixel mask (H, W multiples of stride) -> [B, H/s, W/s, 1] in {0, 1}:
    a latent position is preserved if any of its pixels is."""
    return tf.nn.max_pool2d(tf.cast(pixel_mask, tf.float32), stride, stride, "VALID")


def to_pixels(latent_mask: tf.Tensor, stride: int) -> tf.Tensor:
    """[B, h, w, 1] -> [B, s h, s w, 1]: what the latent mask actually preserves."""
    return tf.repeat(tf.repeat(latent_mask, stride, axis=1), stride, axis=2)
