"""Entropy coding of quantizer symbols and the versioned `.tfgc` file format.

    data = encode_symbols(symbols, num_centers=5, image_shape=(H, W), fingerprint=fp)  # tfc ops
    data = encode_symbols(..., backend="stock")                       # same bytes, stock TF ops
    symbols, header = decode_symbols(data, fingerprint=fp)            # tfc ops
    symbols, header = decode_symbols(data, fingerprint=fp, backend="stock")  # stock TF ops

The layout is documented in docs/bitstream.md. Importing this package does not import
tensorflow_compression (only the "tfc" encoder and decoder backends do, lazily).
"""

from tfgc.coding.api import (
    decode_symbols,
    encode_symbols,
    error_from_graph,
    header_size,
    parse_header,
    validate_file,
)
from tfgc.coding.format import FORMAT_VERSION, MAGIC, STRUCTURE_NAMES, STRUCTURES, Header
from tfgc.coding.tables import fit_model_tables

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
