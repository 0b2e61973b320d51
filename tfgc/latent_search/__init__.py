"""Searching the input of a frozen generator for the image you want.

Shared by encoder-side latent optimisation of GC files (`tfgc.latent_search.gc`) and GAN
reversal (`tfgc.reversal`): image distances and an Adam loop that keeps the best iterate.
Names load on first use, so `tfgc.latent_search.settings` (the CLI's defaults) imports no
TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "LOSS_TERMS": "losses", "ImageLoss": "losses", "parse_loss": "losses",
    "LatentSearch": "search", "SearchResult": "search", "SearchSettings": "search",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfgc.latent_search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tfgc.latent_search.{_EXPORTS[name]}"), name)
