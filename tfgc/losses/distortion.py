"""Fidelity terms beside per-pixel MSE."""

from __future__ import annotations

import tensorflow as tf


def lowpass_mse(x: tf.Tensor, x_hat: tf.Tensor, factor: int) -> tf.Tensor:
    """MSE between the factor x factor average-pooled image and reconstruction.

    Per-pixel MSE weighs the local mean colour like any other frequency, and the GAN terms may
    shift it (bench/colour_cast.py); this term weighs only the low frequencies. A zero-mean
    pattern inside each pooled square costs nothing here, a uniform shift d costs d**2.
    """
    means = [tf.nn.avg_pool2d(image, factor, factor, "SAME") for image in (x, x_hat)]
    return tf.reduce_mean(tf.square(means[0] - means[1]))
