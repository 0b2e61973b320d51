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


def _ssim(target: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    filter_size = min(11, int(target.shape[1]), int(target.shape[2]))
    return tf.image.ssim(target, image, 1.0, filter_size=filter_size)


def _ms_ssim(target: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    filter_size, _, weights = ms_ssim_settings(int(target.shape[1]), int(target.shape[2]))
    return tf.image.ssim_multiscale(target, image, 1.0, power_factors=weights,
                                    filter_size=filter_size)


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
