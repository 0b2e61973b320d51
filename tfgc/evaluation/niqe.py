"""NIQE no-reference naturalness score (Mittal, Soundararajan & Bovik, 2013); lower is better.

A faithful port of the authors' MATLAB release (computequality.m / estimatemodelparam.m):
96x96 patches, MSCN coefficients from a 7x7 Gaussian (sigma 7/6) with replicated borders,
18 AGGD features per patch at two scales (MATLAB bicubic `imresize(0.5)` with antialiasing),
and the distance between the image's feature Gaussian and a pristine one.

The authors' pristine model (`modelparameters.mat`) is not redistributable offline, so tfgc fits
its own on a named set of pristine photographs (`fit_pristine_model`, run by bench/fit_niqe.py)
and ships it in tfgc/assets/niqe/. Scores are therefore on a similar but not identical scale to
published NIQE numbers; results files name the pristine set.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from tfgc.errors import ConfigError

PATCH_SIZE = 96
SHARPNESS_THRESHOLD = 0.75
DEFAULT_MODEL_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "niqe", "pristine.npz")

_GAMMAS = np.arange(0.2, 10.0 + 1e-9, 0.001)
_R_GAMMAS = (special.gamma(2 / _GAMMAS) ** 2
             / (special.gamma(1 / _GAMMAS) * special.gamma(3 / _GAMMAS)))


@dataclass(frozen=True)
class NiqeModel:
    mean: np.ndarray  # [36]
    covariance: np.ndarray  # [36, 36]
    info: dict  # where the pristine statistics came from


def _gaussian_window() -> np.ndarray:
    # MATLAB fspecial('gaussian', 7, 7/6)
    y, x = np.mgrid[-3:4, -3:4]
    window = np.exp(-(x ** 2 + y ** 2) / (2 * (7 / 6) ** 2))
    return window / window.sum()


_WINDOW = _gaussian_window()


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """MATLAB rgb2gray on uint8 (BT.601 weights, rounded back to integers), as float64."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    weights = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
    return np.round(image[..., :3].astype(np.float64) @ weights)


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys kernel with a = -0.5, as in MATLAB imresize
    ax = np.abs(x)
    return np.where(ax <= 1, 1.5 * ax ** 3 - 2.5 * ax ** 2 + 1,
                    np.where(ax <= 2, -0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2, 0.0))


# imresize(0.5, 'bicubic') antialiases: the kernel is stretched by 2, giving 8 taps.
_HALF_TAPS = _cubic((np.arange(-3, 5) - 0.5) / 2) / 2
_HALF_TAPS = _HALF_TAPS / _HALF_TAPS.sum()


def imresize_half(image: np.ndarray) -> np.ndarray:
    """MATLAB `imresize(image, 0.5)` (bicubic, antialiased, symmetric borders) on a 2-D array."""
    out = image
    for axis in (0, 1):
        size = out.shape[axis]
        count = int(np.ceil(size * 0.5))
        # output i is centred on input 2i + 0.5; taps at 2i-3 .. 2i+4
        index = 2 * np.arange(count)[:, None] + np.arange(-3, 5)[None, :]
        index = np.where(index < 0, -index - 1, index)  # symmetric: -1 -> 0, -2 -> 1
        index = np.where(index >= size, 2 * size - index - 1, index)
        out = np.tensordot(np.take(out, index, axis=axis), _HALF_TAPS, axes=([axis + 1], [0]))
    return out


def aggd_fit(values: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian by moment matching: (alpha, beta_left, beta_right)."""
    values = values.ravel()
    left, right = values[values < 0], values[values > 0]
    if left.size == 0 or right.size == 0:
        return float("nan"), float("nan"), float("nan")
    left_std = np.sqrt(np.mean(left ** 2))
    right_std = np.sqrt(np.mean(right ** 2))
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values ** 2)
    r_norm = r_hat * (gamma_hat ** 3 + 1) * (gamma_hat + 1) / (gamma_hat ** 2 + 1) ** 2
    alpha = float(_GAMMAS[np.argmin((_R_GAMMAS - r_norm) ** 2)])
    scale = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    return alpha, float(left_std * scale), float(right_std * scale)


def _patch_features(mscn: np.ndarray) -> list[float]:
    alpha, beta_l, beta_r = aggd_fit(mscn)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # MATLAB circshift within the patch
        pair = mscn * np.roll(mscn, shift, axis=(0, 1))
        alpha, beta_l, beta_r = aggd_fit(pair)
        mean = (beta_r - beta_l) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return features


def _mscn_and_sigma(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = ndimage.correlate(gray, _WINDOW, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(gray * gray, _WINDOW, mode="nearest") - mu * mu))
    return (gray - mu) / (sigma + 1), sigma


def patch_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch 36-d features and sharpness (mean local sigma) of an RGB or gray image."""
    gray = rgb_to_gray(image)
    rows, cols = gray.shape[0] // PATCH_SIZE, gray.shape[1] // PATCH_SIZE
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs at least {PATCH_SIZE}x{PATCH_SIZE} pixels, got {gray.shape}")
    gray = gray[:rows * PATCH_SIZE, :cols * PATCH_SIZE]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        mscn, sigma = _mscn_and_sigma(gray)
        size = PATCH_SIZE // scale
        features = [_patch_features(mscn[r * size:(r + 1) * size, c * size:(c + 1) * size])
                    for r in range(rows) for c in range(cols)]
        per_scale.append(np.asarray(features))
        if scale == 1:
            sharpness = np.array([sigma[r * size:(r + 1) * size, c * size:(c + 1) * size].mean()
                                  for r in range(rows) for c in range(cols)])
        gray = imresize_half(gray)
    return np.concatenate(per_scale, axis=1), sharpness


def _finite_rows(features: np.ndarray) -> np.ndarray:
    return features[np.all(np.isfinite(features), axis=1)]


def _covariance(features: np.ndarray) -> np.ndarray:
    if len(features) < 2:  # MATLAB cov of one observation is 0
        return np.zeros((features.shape[1], features.shape[1]))
    return np.cov(features, rowvar=False)


def fit_pristine_model(images: Iterable[np.ndarray], info: dict | None = None) -> NiqeModel:
    """Pristine feature Gaussian from the sharpest patches of each image (estimatemodelparam.m)."""
    selected = []
    for image in images:
        features, sharpness = patch_features(image)
        keep = sharpness > SHARPNESS_THRESHOLD * sharpness.max()
        selected.append(features[keep])
    features = _finite_rows(np.concatenate(selected, axis=0))
    if len(features) < 37:
        raise ValueError(f"only {len(features)} usable pristine patches; need more images")
    info = dict(info or {}, patches=len(features), patch_size=PATCH_SIZE,
                sharpness_threshold=SHARPNESS_THRESHOLD)
    return NiqeModel(features.mean(axis=0), _covariance(features), info)


def save_model(model: NiqeModel, path: str | os.PathLike) -> None:
    import io

    from tfgc.utils.files import write_bytes_atomic

    buffer = io.BytesIO()
    np.savez(buffer, mean=model.mean, covariance=model.covariance,
             info=np.array(json.dumps(model.info, sort_keys=True)))
    write_bytes_atomic(path, buffer.getvalue())


@functools.lru_cache(maxsize=4)
def load_model(path: str = DEFAULT_MODEL_PATH) -> NiqeModel:
    try:
        with np.load(path, allow_pickle=False) as data:
            model = NiqeModel(np.asarray(data["mean"], dtype=np.float64),
                              np.asarray(data["covariance"], dtype=np.float64),
                              json.loads(str(data["info"])))
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(f"cannot read the NIQE pristine model {path}: {e}") from None
    if model.mean.shape != (36,) or model.covariance.shape != (36, 36):
        raise ConfigError(f"NIQE model {path} has shapes {model.mean.shape}, "
                          f"{model.covariance.shape}; expected (36,) and (36, 36)")
    return model


def niqe(image: np.ndarray, model: NiqeModel | None = None) -> float:
    """NIQE of an RGB uint8 image (at least 96x96); lower means more natural."""
    model = model or load_model()
    features, _ = patch_features(image)
    features = _finite_rows(features)
    if len(features) == 0:
        return float("nan")  # every patch is flat: no statistics to compare
    difference = model.mean - features.mean(axis=0)
    inverse = np.linalg.pinv((model.covariance + _covariance(features)) / 2)
    return float(np.sqrt(difference @ inverse @ difference))
