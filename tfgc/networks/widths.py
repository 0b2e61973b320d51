"""Scaling the paper's filter counts, so one definition serves a GPU cluster and a laptop CPU."""

from __future__ import annotations

from collections.abc import Sequence


def scaled(filters: int, multiplier: float) -> int:
    return max(1, round(filters * multiplier))


def scaled_all(filters: Sequence[int], multiplier: float) -> list[int]:
    return [scaled(f, multiplier) for f in filters]
