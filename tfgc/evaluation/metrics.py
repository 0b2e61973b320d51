"""Full-reference metrics (PSNR, MS-SSIM) with the conventions every tfgc result uses.

Both run on RGB uint8 images with `max_val=255`, through TensorFlow's implementations so numbers
match what training logs. Identical images give PSNR = +inf in TF; we cap it at `PSNR_CAP_DB` so
means and JSON stay finite (JSON has no inf), and the cap is written into every results file.
"""

from __future__ import annotations

import math

import numpy as np

from tfgc.metrics import (  # noqa: F401  (the scale rule lives there; re-exported here)
    MS_SSIM_FILTER_SIZE,
    MS_SSIM_WEIGHTS,
    ms_ssim_scales,
    ms_ssim_settings,
)

PSNR_CAP_DB = 100.0


def _as_float(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {array.shape}")
    return array.astype(np.float32)


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_float(original), _as_float(reconstruction)
    if a.shape != b.shape:
        raise ValueError(f"reconstruction shape {b.shape} differs from original {a.shape}")
    return a, b


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """PSNR in dB over all RGB values, capped at PSNR_CAP_DB (identical images hit the cap)."""
    import tensorflow as tf

    a, b = _check_pair(original, reconstruction)
    value = float(tf.image.psnr(a, b, max_val=255.0).numpy())
    if math.isnan(value):
        raise ValueError("PSNR is NaN: the images contain non-finite values")
    return min(value, PSNR_CAP_DB)


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray) -> tuple[float, int]:
    """MS-SSIM on RGB in [0, 1]; returns (value, scales used).

    Images under 161 px on a side cannot use all 5 scales (TF raises), so we drop the coarsest
    scales and renormalise the remaining weights to sum to 1, which keeps identical images at 1
    and values on the same footing as the 5-scale metric. Under 11 px the filter shrinks to fit.
    """
    import tensorflow as tf

    a, b = _check_pair(original, reconstruction)
    filter_size, scales, weights = ms_ssim_settings(*a.shape[:2])
    value = tf.image.ssim_multiscale(
        a, b, max_val=255.0, power_factors=weights, filter_size=filter_size)
    return float(value.numpy()), scales


def colour_bias(original: np.ndarray, reconstruction: np.ndarray) -> list[float]:
    """Mean of reconstruction minus original per channel (R, G, B), in 8-bit levels: a colour
    cast shows as a consistent sign that PSNR alone does not reveal."""
    a, b = _check_pair(original, reconstruction)
    return [float(v) for v in (b - a).reshape(-1, 3).mean(axis=0, dtype=np.float64)]


def reference_metrics(original: np.ndarray, reconstruction: np.ndarray
                      ) -> dict[str, float | int | list[float]]:
    value, scales = ms_ssim(original, reconstruction)
    return {"psnr": psnr(original, reconstruction), "ms_ssim": value, "ms_ssim_scales": scales,
            "colour_bias": colour_bias(original, reconstruction)}
