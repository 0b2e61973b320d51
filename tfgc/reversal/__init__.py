"""GAN-reversal compression: an image becomes the quantised input z of a frozen generator.

    generator = load_generator("generators/photos64")     # or from_keras(model, shape),
    # or load_prior_generator(prior_dir, model_dir): a code prior + a GC model's G, any size
    data, result = compress_reversal(generator, pixels)   # search z, quantise, fine-tune
    pixels = decompress_reversal(data, generator)         # data: a versioned `.tfgz` file

The search is `tfgc.latent_search`; the file format is in docs/bitstream.md. Names load on
first use, so `tfgc.reversal.settings` (used to build the CLI) imports no TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "compress_reversal": "api", "decompress_reversal": "api",
    "is_reversal_file": "fileformat",
    "ReversibleGenerator": "generators", "from_keras": "generators",
    "load_generator": "generators", "load_prior_generator": "generators",
    "PriorTiledGenerator": "generators",
    "ReversalResult": "reverse", "Reverser": "reverse",
    "ReversalSettings": "settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfgc.reversal' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tfgc.reversal.{_EXPORTS[name]}"), name)
