"""Adversarial losses over a multi-scale discriminator's outputs.

Each loss takes, per scale, the patch logits for real and fake images, averages over patches,
and sums over scales (pix2pixHD). `least_squares` is the paper's choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

GAN_LOSSES = ("least_squares", "non_saturating", "hinge", "wgan_gp")

Logits = Sequence[tf.Tensor]


def _mean(t: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(t, tf.float32))


def discriminator_loss(kind: str, real: Logits, fake: Logits) -> tf.Tensor:
    total = 0.0
    for r, f in zip(real, fake):
        if kind == "least_squares":
            total += _mean(tf.square(r - 1.0)) + _mean(tf.square(f))
        elif kind == "non_saturating":
            total += _mean(tf.nn.softplus(-r)) + _mean(tf.nn.softplus(f))
        elif kind == "hinge":
            total += _mean(tf.nn.relu(1.0 - r)) + _mean(tf.nn.relu(1.0 + f))
        elif kind == "wgan_gp":
            total += _mean(f) - _mean(r)
        else:
            raise ValueError(f"unknown GAN loss {kind!r}; choose one of {GAN_LOSSES}")
    return total


def scale_weights(weights: Sequence[float], num_scales: int) -> list[float]:
    """Per-scale multipliers averaging 1 (() = all 1): relative weights that leave the
    overall strength of the GAN and FM terms to their own weights."""
    if not weights:
        return [1.0] * num_scales
    if len(weights) != num_scales:
        raise ValueError(f"{len(weights)} scale weights for {num_scales} discriminator scales")
    total = float(sum(weights))
    return [float(w) * num_scales / total for w in weights]


def generator_loss(kind: str, fake: Logits, weights: Sequence[float] = ()) -> tf.Tensor:
    """Sum over scales; `weights` as `scale_weights`."""
    total = 0.0
    for f, w in zip(fake, scale_weights(weights, len(fake))):
        if kind == "least_squares":
            term = _mean(tf.square(f - 1.0))
        elif kind == "non_saturating":
            term = _mean(tf.nn.softplus(-f))
        elif kind in ("hinge", "wgan_gp"):
            term = -_mean(f)
        else:
            raise ValueError(f"unknown GAN loss {kind!r}; choose one of {GAN_LOSSES}")
        total += w * term
    return total


def gradient_penalty(critic_logits: Callable[[tf.Tensor], Logits], real: tf.Tensor,
                     fake: tf.Tensor) -> tf.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3) for a multi-scale patch critic.

    Each scale s is its own critic D_s(x) = mean over patches of its logits (the score
    `discriminator_loss` uses), so each gets the paper's penalty E[(||grad D_s(x^)||_2 - 1)^2],
    the norm taken per sample over the whole image at x^ = real + alpha (fake - real),
    alpha ~ U[0, 1] per sample. Penalties are summed over scales, like the losses. Averaging
    over patches keeps the gradient norm independent of the number of patches, so the usual
    weight of 10 means what it means in the paper. Needs a critic without batch statistics.
    """
    alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1], dtype=real.dtype)
    interpolated = real + alpha * (fake - real)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(interpolated)
        logits = critic_logits(interpolated)
        # Per-sample critic scores; summing over the batch keeps each sample's gradient its own.
        scores = [tf.reduce_sum(tf.reduce_mean(tf.cast(t, tf.float32), axis=[1, 2, 3]))
                  for t in logits]
    total = 0.0
    for score in scores:
        grads = tf.cast(tape.gradient(score, interpolated), tf.float32)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        total += tf.reduce_mean(tf.square(norms - 1.0))
    del tape
    return total


def feature_matching_loss(real_features: Sequence[Sequence[tf.Tensor]],
                          fake_features: Sequence[Sequence[tf.Tensor]],
                          weights: Sequence[float] = ()) -> tf.Tensor:
    """pix2pixHD's L1 between D's intermediate features (every layer but the logits),
    averaged over layers and scales; `weights` as `scale_weights`."""
    total = 0.0
    num_scales = len(real_features)
    for real_scale, fake_scale, w in zip(real_features, fake_features,
                                         scale_weights(weights, num_scales)):
        layers = list(zip(real_scale[:-1], fake_scale[:-1]))  # logits excluded
        for r, f in layers:
            total += w * _mean(tf.abs(tf.stop_gradient(r) - f)) / (len(layers) * num_scales)
    return total
