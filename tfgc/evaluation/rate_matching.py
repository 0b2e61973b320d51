"""Finds, per image, the baseline setting with the most bits at or under a target bpp.

Quality knobs are integers, searched by galloping up from the lowest setting, then bisecting.
JPEG 2000 has exact rate control, but OpenJPEG lands a little over or under the asked rate, so
its ratio is corrected until the file is verifiably at or under the target. Every result is an
encode that was actually measured, never an interpolation. When even the lowest setting is over
the target the result is flagged `reached=False` and holds that lowest setting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tfgc.evaluation.codecs import J2K_RAW_BPP, BaselineCodec

MAX_RATE_STEPS = 8  # JPEG 2000 corrections; OpenJPEG is usually within 1% after the first
RATE_CLOSE_ENOUGH = 0.98  # stop correcting JPEG 2000 once at or above this fraction of the target
RATIO_TOLERANCE = 1.01  # ... or once the under/over ratios bracket the target this tightly


@dataclass(frozen=True)
class Encoded:
    setting: float
    data: bytes
    seconds: float  # encode wall time


@dataclass(frozen=True)
class RateMatch:
    codec: str
    target_bpp: float
    pixels: int
    encoded: Encoded
    reached: bool
    encodes: int  # encoder calls this search made (settings cached from another search are free)
    probes: int  # settings this search looked at

    @property
    def bpp(self) -> float:
        return len(self.encoded.data) * 8 / self.pixels


class EncodeCache:
    """Encodes of one image by one codec, shared by the searches for several targets."""

    def __init__(self, codec: BaselineCodec, image: np.ndarray) -> None:
        self.codec = codec
        self.image = np.ascontiguousarray(image, dtype=np.uint8)
        self.pixels = int(image.shape[0] * image.shape[1])
        self._encoded: dict[float, Encoded] = {}
        self.calls = 0

    def get(self, setting: float) -> Encoded:
        if setting not in self._encoded:
            start = time.perf_counter()
            data = self.codec.encode(self.image, setting)
            self._encoded[setting] = Encoded(setting, data, time.perf_counter() - start)
            self.calls += 1
        return self._encoded[setting]

    def bpp(self, encoded: Encoded) -> float:
        return len(encoded.data) * 8 / self.pixels


def _search_quality(cache: EncodeCache, target_bpp: float) -> tuple[Encoded, int]:
    """Galloping search up from the lowest setting, then bisection of the last step.

    Extreme-rate targets sit near the bottom of the range, and high settings are the slow
    encodes (AVIF/HEIC at quality 50 take seconds on a Kodak image), so we never start in the
    middle. Needs about 2*log2(answer) encodes; 1 when even the lowest setting is over target.
    """
    lowest, highest = int(cache.codec.lowest), int(cache.codec.highest)
    probes = 1
    best = cache.get(lowest)
    if cache.bpp(best) > target_bpp:
        return best, probes  # not reachable: report the lowest setting
    low, step = lowest, 1  # low: highest setting known at or under target
    high = highest + 1  # lowest setting known over target (or past the range)
    while low + step < high:
        encoded = cache.get(low + step)
        probes += 1
        if cache.bpp(encoded) > target_bpp:
            high = low + step
            break
        best, low, step = encoded, low + step, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        encoded = cache.get(middle)
        probes += 1
        if cache.bpp(encoded) <= target_bpp:
            best, low = encoded, middle
        else:
            high = middle
    return best, probes


def _search_ratio(cache: EncodeCache, target_bpp: float) -> tuple[Encoded, int]:
    """Rate-controlled search: ask for the target, then correct within a shrinking bracket.

    OpenJPEG's size is a staircase in the ratio (it truncates at coding-pass boundaries), so
    we stop once under and close, or once the bracket is narrower than RATIO_TOLERANCE.
    """
    smallest, largest = cache.codec.highest, cache.codec.lowest  # ratio bounds (bits run inverse)
    under, over = largest, smallest  # ratios known at/under target, over target (assumed)
    ratio = min(largest, max(smallest, J2K_RAW_BPP / target_bpp))
    best, probes = None, 0
    for _ in range(MAX_RATE_STEPS):
        encoded = cache.get(ratio)
        probes += 1
        bpp = cache.bpp(encoded)
        if bpp <= target_bpp:
            under = min(under, ratio)
            if best is None or bpp > cache.bpp(best):
                best = encoded
            if bpp >= RATE_CLOSE_ENOUGH * target_bpp:
                break
            guess = ratio * bpp / target_bpp  # spend more bits
        else:
            over = max(over, ratio)
            if probes == 1 and bpp > 1.1 * target_bpp:  # far over: headers alone may not fit
                lowest = cache.get(largest)
                probes += 1
                if cache.bpp(lowest) > target_bpp:
                    return lowest, probes
            guess = ratio * bpp / target_bpp * 1.01  # aim slightly below
        if under / over < RATIO_TOLERANCE:
            break
        if not over < guess < under:
            guess = float(np.sqrt(over * under))
        ratio = guess
    if best is None:
        best = cache.get(largest)
        probes += 1
    return best, probes


def match_rate(codec: BaselineCodec, image: np.ndarray, target_bpp: float,
               cache: EncodeCache | None = None) -> RateMatch:
    """Best setting of `codec` at or under `target_bpp` for `image` (see module docstring)."""
    if not target_bpp > 0:
        raise ValueError(f"target bpp must be positive, got {target_bpp}")
    cache = cache or EncodeCache(codec, image)
    calls_before = cache.calls
    search = _search_quality if codec.knob == "quality" else _search_ratio
    encoded, probes = search(cache, target_bpp)
    return RateMatch(codec.name, float(target_bpp), cache.pixels, encoded,
                     reached=cache.bpp(encoded) <= target_bpp,
                     encodes=cache.calls - calls_before, probes=probes)
