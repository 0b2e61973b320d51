"""Fidelity terms beside per-pixel MSE."""

from __future__ import annotations

import tensorflow as tf

from tfgc.latent_search.losses import ImageLoss

_MS_SSIM = ImageLoss("ms_ssim")


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
    contrast instead, the measure issue 14's first target is stated in. The latent search's
    MS-SSIM term (`tfgc.latent_search.losses`): the evaluation's settings (11-px Gaussian, the
    coarsest scales dropped and the weights renormalised, so 128-px crops use 4 of the 5
    scales), with the per-scale terms floored above 0 so the gradients stay finite. x_hat is not
    clipped (clipping would stop the gradient of out-of-range pixels).
    """
    return tf.reduce_mean(_MS_SSIM((x + 1.0) / 2.0, (x_hat + 1.0) / 2.0))
