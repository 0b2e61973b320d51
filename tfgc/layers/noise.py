"""Noise v concatenated to the quantised latents, regenerated bit-exactly from a stored seed.

The noise lives at latent resolution, so it exists for every image size (the TF1 port's noise
was tied to one input size). Stateless Philox sampling gives the same values in every process.
"""

from __future__ import annotations

import tensorflow as tf


def latent_noise(shape_like: tf.Tensor, channels: int, seed: tf.Tensor) -> tf.Tensor:
    """Standard normal noise [B, h, w, channels] for latents `shape_like`, from a uint32 seed."""
    shape = tf.shape(shape_like)
    seed = tf.cast(seed, tf.int64)
    return tf.random.stateless_normal(
        [shape[0], shape[1], shape[2], channels],
        seed=tf.stack([seed, tf.constant(0x7F6C, tf.int64)]), dtype=shape_like.dtype)
