"""Code-length yardsticks for a `.tfgc` file (numpy; for tests, benchmarks and reports).

The real file size is what users pay; these say how far it is from what its own tables
promise (range-coder overhead) and from the empirical entropy under each context structure.
"""

from __future__ import annotations

import math

import numpy as np

from tfgc.coding import format as fmt
from tfgc.coding.contexts import context_index_np
from tfgc.coding.tables import parse_table_section_np


def file_tables_np(data: bytes, model_tables: np.ndarray | None = None
                   ) -> tuple[fmt.Header, np.ndarray, np.ndarray]:
    """(header, frequencies [K, L], precision [K]) a file's symbols were coded with."""
    header = fmt.parse_header(data)
    if header.model_tables:
        if model_tables is None:
            raise ValueError("this file uses model tables: pass them")
        freqs = np.asarray(model_tables, np.int64)
        return header, freqs, np.full(len(freqs), fmt.MODEL_TABLE_PRECISION)
    freqs, precision = parse_table_section_np(
        data[header.tables_offset:header.tables_offset + header.tables_size], header.channels,
        header.num_centers, header.structure, header.latent_width, header.precision_base,
        header.precision_step)
    return header, freqs, precision


def ideal_payload_bits(data: bytes, symbols: np.ndarray,
                       model_tables: np.ndarray | None = None) -> float:
    """-sum log2 p(symbol) under the (integer) tables stored in / named by the file."""
    header, freqs, precision = file_tables_np(data, model_tables)
    index = context_index_np(symbols, header.num_centers, header.structure)
    f = freqs[index, symbols]
    if np.any(f == 0):
        raise ValueError("a symbol has zero frequency in its table: not this file's symbols")
    return float(np.sum(precision[index] - np.log2(f)))


def empirical_bits(symbols: np.ndarray, num_centers: int, structure: int = 0) -> float:
    """Sum over contexts of n * H(empirical distribution): the ideal adaptive-free cost."""
    symbols = np.asarray(symbols, np.int64)
    index = context_index_np(symbols, num_centers, structure)
    k = int(index.max()) + 1
    counts = np.bincount((index * num_centers + symbols).ravel(),
                         minlength=k * num_centers).reshape(k, num_centers).astype(np.float64)
    totals = counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log2(totals / counts), 0.0)
    return float(terms.sum())


def bound_bits(symbols: np.ndarray, num_centers: int) -> float:
    """dim * log2(L): what the paper reports as bpp."""
    return float(np.asarray(symbols).size * math.log2(num_centers))
