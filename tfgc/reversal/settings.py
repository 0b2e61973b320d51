"""What a reversal search does, as plain data (no TensorFlow: the CLI reads its defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfgc.errors import ConfigError

CLIPPING = ("clip", "stochastic", "none")
STEPS_FOR_TARGET = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.02, 0.01)


@dataclass(frozen=True)
class ReversalSettings:
    loss: str = "mse"
    steps: int = 300
    learning_rate: float = 0.5
    restarts: int = 4
    clipping: str = "clip"
    patience: int = 60
    tolerance: float = 0.0  # an improvement counts when it beats the best by this fraction
    prune_after: int = 50  # then only the best restart goes on; 0: all restarts to the end
    quantization: str = "0.1"  # a step, "ternary", or "bpp:X" (finest step within X bpp)
    finetune_steps: int = 60
    finetune_learning_rate: float = 0.02
    coder: str = "range"
    seed: int = 0
    encoder_start: bool = True  # the first restart starts at the generator's encoder's z, if any

    def __post_init__(self):
        if self.clipping not in CLIPPING:
            raise ConfigError(f"unknown clipping {self.clipping!r}; choose from {CLIPPING}")
        if self.restarts < 1:
            raise ConfigError(f"restarts must be >= 1, got {self.restarts}")
        if self.prune_after < 0:
            raise ConfigError(f"prune_after must be >= 0, got {self.prune_after}")
        parse_quantization(self.quantization)


def parse_quantization(text: str) -> tuple[str, float]:
    """"0.1" -> ("step", 0.1); "ternary" -> ("ternary", 1.0); "bpp:0.2" -> ("bpp", 0.2)."""
    text = str(text).strip().lower()
    try:
        if text == "ternary":
            return "ternary", 1.0
        if text.startswith("bpp:"):
            value = float(text[4:])
            kind = "bpp"
        else:
            value, kind = float(text), "step"
    except ValueError:
        value = float("nan")
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"quantization must be a step > 0 (e.g. 0.1), 'ternary' or 'bpp:X' "
                          f"(a target in bits per pixel), got {text!r}")
    return kind, value
