"""Image quality metrics shared by training, the codec and evaluation.

TensorFlow is imported inside the TF functions, so the scale rule costs nothing to import.
"""

from __future__ import annotations

# Wang, Simoncelli & Bovik (2003) scale weights; TF uses the same defaults.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_FILTER_SIZE = 11


def ms_ssim_scales(height: int, width: int) -> int:
    """How many of the 5 scales fit: each scale must still be at least the 11-px filter.

    tf.image.ssim_multiscale pads odd sizes, then 2x2 average-pools, so a side of 161 px is
    the smallest that keeps all 5 scales.
    """
    scales, h, w = 1, height, width
    while scales < len(MS_SSIM_WEIGHTS):
        h, w = (h + 1) // 2, (w + 1) // 2
        if min(h, w) < MS_SSIM_FILTER_SIZE:
            break
        scales += 1
    return scales


def ms_ssim_settings(height: int, width: int) -> tuple[int, int, tuple[float, ...]]:
    """(filter size, scales, renormalised weights) that fit an image of this size.

    Dropping the coarsest scales and renormalising keeps identical images at 1; under 11 px
    the filter shrinks to fit and one scale is used.
    """
    filter_size = min(MS_SSIM_FILTER_SIZE, height, width)
    scales = ms_ssim_scales(height, width) if filter_size == MS_SSIM_FILTER_SIZE else 1
    weights = MS_SSIM_WEIGHTS[:scales]
    return filter_size, scales, tuple(w / sum(weights) for w in weights)


def ms_ssim(a, b, max_val: float = 1.0):
    """MS-SSIM per image [B]. With static H, W the scales are fitted when traced; with dynamic
    ones (whole eval images of any size, at least 11 px) the same rule picks them at run time."""
    import tensorflow as tf

    height, width = a.shape[1], a.shape[2]
    if height is not None and width is not None:
        filter_size, _, weights = ms_ssim_settings(height, width)
        return tf.image.ssim_multiscale(a, b, max_val, power_factors=weights,
                                        filter_size=filter_size)
    side = tf.minimum(tf.shape(a)[1], tf.shape(a)[2])
    extra_scales = 0
    for _ in range(len(MS_SSIM_WEIGHTS) - 1):  # ms_ssim_scales in graph ops
        side = (side + 1) // 2
        extra_scales += tf.cast(side >= MS_SSIM_FILTER_SIZE, tf.int32)

    def fitted(scales):
        weights = MS_SSIM_WEIGHTS[:scales]
        return lambda: tf.image.ssim_multiscale(
            a, b, max_val, power_factors=tuple(w / sum(weights) for w in weights),
            filter_size=MS_SSIM_FILTER_SIZE)

    return tf.switch_case(extra_scales, [fitted(n + 1) for n in range(len(MS_SSIM_WEIGHTS))])


def psnr(a, b, max_val: float = 1.0):
    import tensorflow as tf

    return tf.image.psnr(a, b, max_val)
