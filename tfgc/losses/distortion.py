"""Fidelity terms beside per-pixel MSE."""

from __future__ import annotations

import tensorflow as tf

from tfgc.metrics import ms_ssim_settings


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
    contrast instead, the measure issue 14's first target is stated in. The evaluation's
    settings (`tfgc.metrics.ms_ssim_settings`: 11-px Gaussian, the coarsest scales dropped and
    the weights renormalised, so 128-px crops use 4 of the 5 scales), and the same value as
    `tf.image.ssim_multiscale` wherever every scale's term is positive. That function clips
    the terms at 0 before raising them to fractional powers, whose gradient at 0 is NaN (a
    young model's reconstructions reach it); here they are floored at a small positive value.
    x_hat is not clipped (clipping would stop the gradient of out-of-range pixels).
    """
    a, b = (x + 1.0) / 2.0, (x_hat + 1.0) / 2.0
    filter_size, scales, weights = ms_ssim_settings(a.shape[1], a.shape[2])
    kernel = _gaussian_kernel(filter_size, a.shape[-1])
    terms = []
    for scale in range(scales):
        if scale:
            a, b = (tf.nn.avg_pool2d(image, 2, 2, "VALID") for image in (a, b))
        ssim, contrast_structure = _ssim_terms(a, b, kernel)
        terms.append(contrast_structure if scale < scales - 1 else ssim)
    floored = tf.maximum(tf.stack(terms, axis=-1), 1e-6)  # [B, channels, scales]
    per_channel = tf.reduce_prod(floored ** tf.constant(weights, floored.dtype), axis=-1)
    return 1.0 - tf.reduce_mean(per_channel)


def _gaussian_kernel(size: int, channels: int, sigma: float = 1.5) -> tf.Tensor:
    """tf.image.ssim's window: a normalised size x size Gaussian, one per channel."""
    coords = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    g = tf.exp(-tf.square(coords) / (2.0 * sigma ** 2))
    window = tf.tensordot(g, g, axes=0)
    window /= tf.reduce_sum(window)
    return tf.tile(window[:, :, None, None], [1, 1, channels, 1])


def _ssim_terms(a: tf.Tensor, b: tf.Tensor, kernel: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per image and channel: SSIM and its contrast-structure term (as tf.image.ssim, range 1)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def local_mean(image):
        return tf.nn.depthwise_conv2d(image, kernel, [1, 1, 1, 1], "VALID")

    mean_a, mean_b = local_mean(a), local_mean(b)
    product = 2.0 * mean_a * mean_b
    luminance = (product + c1) / (tf.square(mean_a) + tf.square(mean_b) + c1)
    contrast_structure = ((2.0 * local_mean(a * b) - product + c2)
                          / (local_mean(tf.square(a) + tf.square(b))
                             - tf.square(mean_a) - tf.square(mean_b) + c2))
    return (tf.reduce_mean(luminance * contrast_structure, axis=[1, 2]),
            tf.reduce_mean(contrast_structure, axis=[1, 2]))
