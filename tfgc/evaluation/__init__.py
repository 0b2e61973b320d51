"""Evaluation against classical codecs: metrics, per-image rate matching, reports and plots.

Names are imported lazily so `python -m tfgc --help` (which imports the CLI module) does not
load TensorFlow. Notebook use: `from tfgc.evaluation import evaluate`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate": "tfgc.evaluation.runner",
    "DEFAULT_FACTORS": "tfgc.evaluation.runner",
    "NR_METRICS": "tfgc.evaluation.runner",
    "BASELINES": "tfgc.evaluation.codecs",
    "DEFAULT_BASELINES": "tfgc.evaluation.codecs",
    "match_rate": "tfgc.evaluation.rate_matching",
    "psnr": "tfgc.evaluation.metrics",
    "ms_ssim": "tfgc.evaluation.metrics",
    "niqe": "tfgc.evaluation.niqe",
    "brisque": "tfgc.evaluation.brisque_metric",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfgc.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
