"""Fidelity terms beside per-pixel MSE."""

from __future__ import annotations

import tensorflow as tf

from tfgc.metrics import ms_ssim


def lowpass_mse(x: tf.Tensor, x_hat: tf.Tensor, factor: int) -> tf.Tensor:
    """MSE between the factor x factor average-pooled image and reconstruction.

    Per-pixel MSE weighs the local mean colour like any other frequency, and the GAN terms may
    shift it (bench/colour_cast.py); this term weighs only the low frequencies. A zero-mean
    pattern inside each pooled square costs nothing here, a uniform shift d costs d**2.
    """
    means = [tf.nn.avg_pool2d(image, factor, factor, "SAME") for image in (x, x_hat)]
    return tf.reduce_mean(tf.square(means[0] - means[1]))


def ms_ssim_distortion(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    """1 - MS-SSIM, averaged over the batch, for images in [-1, 1].

    MSE rewards blur where the GAN terms reward texture; MS-SSIM weighs local structure and
    contrast instead, the measure issue 14's first target is stated in. The scales are the
    evaluation's (`tfgc.metrics.ms_ssim`): the 11-px filter with the coarsest scales dropped and
    the weights renormalised, so 128-px training crops use 4 of the 5 scales. x_hat is not
    clipped (clipping would stop the gradient of out-of-range pixels).
    """
    return 1.0 - tf.reduce_mean(ms_ssim((x + 1.0) / 2.0, (x_hat + 1.0) / 2.0))
