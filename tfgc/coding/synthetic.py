"""Deterministic stand-ins for quantizer symbols, for tests and benchmarks without a model.

Real latents are spatially smooth and correlated across channels; thresholded smoothed noise
has both properties, with `sigma` (spatial smoothing, in latent pixels) and `rho` (correlation
of neighbouring channels) as knobs, and unequal symbol frequencies like a trained quantizer.
"""

from __future__ import annotations

import numpy as np


def _smooth(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    if sigma <= 0:
        return x
    radius = max(1, int(3 * sigma))
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(x, pad, mode="wrap" if x.shape[axis] > radius else "edge")
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), axis, padded)


def correlated_symbols(height: int, width: int, channels: int, num_centers: int,
                       sigma: float = 1.5, rho: float = 0.5, seed: int = 0) -> np.ndarray:
    """int32 [height, width, channels] symbols 0..num_centers-1 with spatial structure."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((height, width, channels))
    z = _smooth(_smooth(z, sigma, 0), sigma, 1)
    for c in range(1, channels):
        z[..., c] = rho * z[..., c - 1] + np.sqrt(1 - rho**2) * z[..., c]
    z = (z - z.mean()) / (z.std() + 1e-12)
    # Thresholds at unevenly spaced quantiles: the middle symbols are the most frequent.
    levels = np.linspace(0, 1, num_centers + 1)[1:-1] * 0.6 + 0.2
    thresholds = np.quantile(z, levels)
    return np.digitize(z, thresholds).astype(np.int32)
