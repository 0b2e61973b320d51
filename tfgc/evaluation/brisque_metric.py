"""BRISQUE no-reference quality score (lower is better), as computed by the `brisque` 0.2.0 wheel.

The wheel ships its trained model (an RBF epsilon-SVR and feature ranges) but cannot be imported
without OpenCV, which tfgc does not depend on: OpenCV is used only for one bicubic 2x downscale.
So this module reproduces the wheel's feature pipeline in numpy/scipy (including its zero-padded
filtering and root-finding fits, so scores match it, not the original MATLAB BRISQUE), reads the
model files from the installed wheel without importing it, and evaluates the SVR in numpy.
`tests/test_evaluation_metrics.py` pins scores computed with the real wheel + OpenCV.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal, special

from tfgc.errors import ConfigError

BRISQUE_PACKAGE = "brisque"


@dataclass(frozen=True)
class BrisqueModel:
    support_vectors: np.ndarray  # [n, 36]
    coefficients: np.ndarray  # [n]
    gamma: float
    rho: float
    feature_min: np.ndarray  # [36]
    feature_max: np.ndarray  # [36]


def _model_dir() -> str:
    # find_spec does not execute brisque/__init__.py, which would fail on `import cv2`.
    spec = importlib.util.find_spec(BRISQUE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("BRISQUE needs the `brisque` wheel for its model files: "
                          "pip install brisque==0.2.0 (or skip it with --nr-metrics niqe)")
    return os.path.join(next(iter(spec.submodule_search_locations)), "models")


def _parse_libsvm_model(text: str) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    header: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if line.strip() == "SV":
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    coefficients, vectors = [], []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        coefficients.append(float(parts[0]))
        vector = np.zeros(36)
        for item in parts[1:]:  # sparse "index:value", 1-based; absent entries are 0
            index, value = item.split(":")
            vector[int(index) - 1] = float(value)
        vectors.append(vector)
    return header, np.asarray(coefficients), np.asarray(vectors)


@functools.lru_cache(maxsize=1)
def load_model() -> BrisqueModel:
    directory = _model_dir()
    try:
        with open(os.path.join(directory, "svm.txt"), encoding="ascii") as f:
            header, coefficients, vectors = _parse_libsvm_model(f.read())
        with open(os.path.join(directory, "normalize.pickle"), "rb") as f:
            ranges = pickle.load(f)  # shipped inside the installed wheel, not user input
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as e:
        raise ConfigError(f"cannot read the BRISQUE model in {directory}: {e}") from None
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ConfigError(f"unexpected BRISQUE model type in {directory}: {header}")
    return BrisqueModel(
        support_vectors=vectors, coefficients=coefficients,
        gamma=float(header["gamma"]), rho=float(header["rho"]),
        feature_min=np.asarray(ranges["min_"], dtype=np.float64),
        feature_max=np.asarray(ranges["max_"], dtype=np.float64))


def _gaussian_kernel(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    y, x = np.indices((size, size)) - size // 2
    kernel = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    return kernel / kernel.sum()


def _mscn(gray: np.ndarray) -> np.ndarray:
    kernel = _gaussian_kernel()
    mean = signal.convolve2d(gray, kernel, "same")
    deviation = np.sqrt(np.abs(mean ** 2 - signal.convolve2d(gray ** 2, kernel, "same")))
    return (gray - mean) / (deviation + 1 / 255)


def _aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: (alpha, mean, sigma_l, sigma_r)."""
    x = x.ravel()
    r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x ** 2)
    sigma_l = np.sqrt(np.mean(x[x < 0] ** 2))
    sigma_r = np.sqrt(np.mean(x[x >= 0] ** 2))
    gamma = sigma_l / sigma_r
    big_r = r_hat * (gamma ** 3 + 1) * (gamma + 1) / (gamma ** 2 + 1) ** 2

    def phi(alpha: np.ndarray) -> np.ndarray:
        return special.gamma(2 / alpha) ** 2 / (special.gamma(1 / alpha) * special.gamma(3 / alpha))

    alpha = float(optimize.root(lambda z: phi(z) - big_r, [0.2]).x[0])
    constant = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    mean = (sigma_r - sigma_l) * constant * special.gamma(2 / alpha) / special.gamma(1 / alpha)
    return alpha, float(mean), float(sigma_l), float(sigma_r)


def _features_one_scale(gray: np.ndarray) -> list[float]:
    mscn = _mscn(gray)
    alpha, _, sigma_l, sigma_r = _aggd_fit(mscn)
    features = [alpha, (sigma_l ** 2 + sigma_r ** 2) / 2]
    for pair in (mscn[:, :-1] * mscn[:, 1:], mscn[:-1, :] * mscn[1:, :],
                 mscn[:-1, :-1] * mscn[1:, 1:], mscn[1:, :-1] * mscn[:-1, 1:]):
        alpha, mean, sigma_l, sigma_r = _aggd_fit(pair)
        features += [alpha, mean, sigma_l ** 2, sigma_r ** 2]
    return features


def downscale_half_bicubic(image: np.ndarray) -> np.ndarray:
    """OpenCV's `resize(fx=fy=0.5, INTER_CUBIC)`: Keys cubic (a=-0.75), replicated border."""
    taps = np.array([-0.09375, 0.59375, 0.59375, -0.09375])  # the cubic at offsets +-0.5, +-1.5

    def along(array: np.ndarray, axis: int) -> np.ndarray:
        size = array.shape[axis]
        out = max(1, round(size * 0.5))  # OpenCV rounds half to even, like Python
        index = np.clip(2 * np.arange(out)[:, None] + np.arange(-1, 3)[None, :], 0, size - 1)
        return np.tensordot(np.take(array, index, axis=axis), taps, axes=([axis + 1], [0]))

    return along(along(image, 0), 1)


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """skimage.color.rgb2gray on uint8: float in [0, 1], Rec. 709 luma weights."""
    rgb = np.asarray(image, dtype=np.float64) / 255.0
    return rgb @ np.array([0.2125, 0.7154, 0.0721])


def brisque_features(image: np.ndarray) -> np.ndarray:
    gray = rgb_to_gray(image)
    return np.asarray(_features_one_scale(gray) + _features_one_scale(downscale_half_bicubic(gray)))


def brisque(image: np.ndarray) -> float:
    """BRISQUE score of an RGB uint8 image; lower is better (roughly 0-100)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise ValueError(f"BRISQUE needs an RGB image of at least 8x8, got {image.shape}")
    model = load_model()
    features = brisque_features(image)
    scaled = -1 + 2.0 / (model.feature_max - model.feature_min) * (features - model.feature_min)
    distances = np.sum((model.support_vectors - scaled) ** 2, axis=1)
    return float(model.coefficients @ np.exp(-model.gamma * distances) - model.rho)
