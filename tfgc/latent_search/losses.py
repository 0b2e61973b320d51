"""Image distances to minimise over a latent: MSE, L1, SSIM, MS-SSIM and weighted sums.

A loss is written as a sum of weighted terms, e.g. "mse", "ssim" or "mse+0.05*ms_ssim". SSIM
terms enter as 1 - SSIM so every term is 0 for identical images and grows with distortion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import tensorflow as tf

from tfgc.errors import ConfigError
from tfgc.metrics import ms_ssim_settings

LOSS_TERMS = ("mse", "l1", "ssim", "ms_ssim")
_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*\*\s*)?([a-z_0-9]+)\s*$")


def parse_loss(spec: str | Mapping[str, float],
               extra_terms: tuple[str, ...] = ()) -> dict[str, float]:
    """"mse+0.05*ms_ssim" -> {"mse": 1.0, "ms_ssim": 0.05}; a mapping is checked and copied.

    extra_terms: names a caller handles itself (e.g. a rate term) besides the image terms."""
    if isinstance(spec, Mapping):
        weights = {str(k): float(v) for k, v in spec.items()}
    else:
        weights = {}
        for part in str(spec).split("+"):
            found = _TERM.match(part)
            if not found:
                raise ConfigError(f"cannot read loss term {part.strip()!r} in {spec!r}; write "
                                  "e.g. 'mse', 'ssim' or 'mse+0.05*ms_ssim'")
            weight, name = found.groups()
            weights[name] = weights.get(name, 0.0) + float(weight or 1.0)
    known = LOSS_TERMS + tuple(extra_terms)
    unknown = sorted(set(weights) - set(known))
    if unknown or not weights:
        raise ConfigError(f"unknown loss term(s) {unknown or spec!r}; choose from "
                          f"{', '.join(known)}")
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ConfigError(f"loss weights must be >= 0 and not all 0, got {weights}")
    return weights


_K1, _K2, _SIGMA = 0.01, 0.03, 1.5  # tf.image.ssim's constants (Wang et al. 2004)
_MS_SSIM_FLOOR = 1e-6


def _gaussian_blur(x: tf.Tensor, size: int) -> tf.Tensor:
    """tf.image.ssim's 2-D Gaussian window (VALID), as two 1-D passes: the 2-D window is the
    outer product of the 1-D one, so this is the same average at 2*size instead of size**2
    multiplies per pixel (SSIM terms were a third of a latent-search step)."""
    coords = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    g = tf.nn.softmax(-0.5 * tf.square(coords) / _SIGMA**2)
    channels = int(x.shape[-1])
    rows = tf.tile(tf.reshape(g, [size, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(g, [1, size, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, cols, [1, 1, 1, 1], "VALID")


def _ssim_terms(x: tf.Tensor, y: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-channel SSIM and contrast-structure [B, C] of images in [0, 1] (tf.image.ssim's
    formulas, max_val 1)."""
    c1, c2 = _K1**2, _K2**2
    mean_x, mean_y = _gaussian_blur(x, size), _gaussian_blur(y, size)
    num0 = mean_x * mean_y * 2.0
    den0 = tf.square(mean_x) + tf.square(mean_y)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = _gaussian_blur(x * y, size) * 2.0
    den1 = _gaussian_blur(tf.square(x) + tf.square(y), size)
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return tf.reduce_mean(luminance * cs, [1, 2]), tf.reduce_mean(cs, [1, 2])


def _ssim(target: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    """tf.image.ssim(target, image, 1.0) with the window fitted to small images."""
    size = min(11, int(target.shape[1]), int(target.shape[2]))
    return tf.reduce_mean(_ssim_terms(target, image, size)[0], -1)


def _halve(x: tf.Tensor) -> tf.Tensor:
    """tf.image.ssim_multiscale's downsampling: odd sides mirrored by one pixel, 2x2 mean."""
    pad = [[0, 0], [0, int(x.shape[1]) % 2], [0, int(x.shape[2]) % 2], [0, 0]]
    if any(p[1] for p in pad):
        x = tf.pad(x, pad, mode="SYMMETRIC")
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def _ms_ssim(target: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    """tf.image.ssim_multiscale(target, image, 1.0) with `ms_ssim_settings`' scales, from
    static shapes (no run-time branches); the same value wherever every scale's term is
    positive."""
    size, _, weights = ms_ssim_settings(int(target.shape[1]), int(target.shape[2]))
    factors = []
    for scale in range(len(weights)):
        if scale:
            target, image = _halve(target), _halve(image)
        ssim, cs = _ssim_terms(target, image, size)
        factors.append(cs if scale < len(weights) - 1 else ssim)
    # tf.image.ssim_multiscale clips the terms at 0, where their fractional powers have NaN
    # gradients (an inverted or young reconstruction reaches it); a small floor keeps them finite.
    floored = tf.maximum(tf.stack(factors, -1), _MS_SSIM_FLOOR)
    values = tf.reduce_prod(tf.pow(floored, weights), -1)
    return tf.reduce_mean(values, -1)


class ImageLoss:
    """A weighted sum of distances between images in [0, 1]; one value per batch item.

    Needs static image sizes (the SSIM window and MS-SSIM scales are chosen to fit them).
    """

    def __init__(self, spec: str | Mapping[str, float] = "mse"):
        self.weights = parse_loss(spec)

    def __str__(self) -> str:
        return "+".join(name if w == 1 else f"{w:g}*{name}" for name, w in self.weights.items())

    def __call__(self, target: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
        """target, image: float32 [B, H, W, 3] in [0, 1] -> loss [B]."""
        terms = {
            "mse": lambda: tf.reduce_mean(tf.square(image - target), axis=[1, 2, 3]),
            "l1": lambda: tf.reduce_mean(tf.abs(image - target), axis=[1, 2, 3]),
            "ssim": lambda: 1.0 - _ssim(target, image),
            "ms_ssim": lambda: 1.0 - _ms_ssim(target, image),
        }
        return tf.add_n([w * terms[name]() for name, w in self.weights.items() if w > 0])
