"""Entropy coding of quantizer symbols and the versioned `.tfgc` file format.

    data = encode_symbols(symbols, num_centers=5, image_shape=(H, W), fingerprint=fp)  # tfc ops
    data = encode_symbols(..., backend="stock")                       # same bytes, stock TF ops
    symbols, header = decode_symbols(data, fingerprint=fp)            # tfc ops
    symbols, header = decode_symbols(data, fingerprint=fp, backend="stock")  # stock TF ops

The layout is documented in docs/bitstream.md. Importing this package imports neither
TensorFlow nor tensorflow_compression: `format` (the pure-Python header parser, all `tfgc info`
needs) loads at once, the TF-based coder on first use of one of its names.
"""

from __future__ import annotations

import importlib

from tfgc.coding.format import (
    FORMAT_VERSION,
    MAGIC,
    STRUCTURE_NAMES,
    STRUCTURES,
    Header,
    header_size,
    parse_header,
)

_LAZY = {
    "decode_symbols": "tfgc.coding.api",
    "encode_symbols": "tfgc.coding.api",
    "error_from_graph": "tfgc.coding.api",
    "validate_file": "tfgc.coding.api",
    "fit_model_tables": "tfgc.coding.tables",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "STRUCTURES",
    "STRUCTURE_NAMES",
    "Header",
    "decode_symbols",
    "encode_symbols",
    "error_from_graph",
    "fit_model_tables",
    "header_size",
    "parse_header",
    "validate_file",
]
