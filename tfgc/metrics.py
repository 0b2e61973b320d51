"""Image quality metrics shared by training, the codec and evaluation."""

from __future__ import annotations

import math

import tensorflow as tf

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_scales(height: int, width: int, filter_size: int = 11) -> int:
    """How many MS-SSIM scales fit: the coarsest scale must still hold the 11x11 filter."""
    side = min(height, width)
    if side < filter_size:
        return 0
    return max(1, min(len(_MS_SSIM_WEIGHTS), int(math.log2(side / filter_size)) + 1))


def ms_ssim(a: tf.Tensor, b: tf.Tensor, max_val: float = 1.0) -> tf.Tensor:
    """MS-SSIM per image [B]; uses fewer scales (renormalised weights) on small images.

    Needs static H, W. Images smaller than the 11x11 filter fall back to single-scale SSIM
    with a smaller filter.
    """
    height, width = a.shape[1], a.shape[2]
    if height is None or width is None:
        return tf.image.ssim_multiscale(a, b, max_val)
    scales = ms_ssim_scales(height, width)
    if scales == 0:
        size = max(1, min(height, width))
        return tf.image.ssim(a, b, max_val, filter_size=size)
    weights = _MS_SSIM_WEIGHTS[:scales]
    weights = [w / sum(weights) for w in weights]
    return tf.image.ssim_multiscale(a, b, max_val, power_factors=weights)


def psnr(a: tf.Tensor, b: tf.Tensor, max_val: float = 1.0) -> tf.Tensor:
    return tf.image.psnr(a, b, max_val)
