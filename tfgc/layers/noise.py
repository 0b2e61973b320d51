"""Noise v concatenated to the quantised latents, regenerated bit-exactly from a stored seed.

The noise lives at latent resolution, so it exists for every image size (the TF1 port's noise
was tied to one input size). Stateless Philox sampling gives the same values in every process.
"""

from __future__ import annotations

import tensorflow as tf


def latent_noise(shape_like: tf.Tensor, channels: int, seed: tf.Tensor | int) -> tf.Tensor:
    """Standard normal noise [B, h, w, channels] for latents `shape_like`.

    seed: one uint32 for the whole batch, or one per item ([B]). Item i of a per-item batch
    gets exactly the noise a batch of one with seed[i] gets, so batching never changes pixels.
    """
    shape = tf.shape(shape_like)
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        return _normal([shape[0], shape[1], shape[2], channels], seed, shape_like.dtype)
    return tf.map_fn(lambda s: _normal([1, shape[1], shape[2], channels], s,
                                       shape_like.dtype)[0],
                     seed, fn_output_signature=shape_like.dtype)


def _normal(shape, seed: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    return tf.random.stateless_normal(
        shape, seed=tf.stack([seed, tf.constant(0x7F6C, tf.int64)]), dtype=dtype)
