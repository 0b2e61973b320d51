"""The building blocks of the entropy coder, each against an independent reference.

CRC32 against zlib, TF integer tables / contexts / bit fields against their numpy twins, and
the table section written by TF against the numpy parser.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from tfgc.coding import bitops, crc32, tables
from tfgc.coding.contexts import (
    anchors,
    anchors_np,
    context_index,
    context_index_np,
    possible_contexts,
    possible_contexts_np,
    symbol_order,
    symbol_order_np,
)
from tfgc.coding.format import STRUCTURES, num_contexts
from tfgc.errors import BitstreamError

_crc = tf.function(crc32.crc32, input_signature=[tf.TensorSpec([None], tf.uint8)])


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 63, 64, 65, 127, 1000, 4099])
def test_crc32_matches_zlib(size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
    assert int(_crc(data)) == zlib.crc32(data.tobytes())


def test_crc32_speed_on_30kb():
    data = np.random.default_rng(0).integers(0, 256, 30_000, dtype=np.uint8)
    assert int(_crc(data)) == zlib.crc32(data.tobytes())
    start = time.perf_counter()
    for _ in range(10):
        _crc(data)
    ms = (time.perf_counter() - start) / 10 * 1e3
    print(f"CRC32 of 30 KB in TF ops: {ms:.1f} ms")
    assert ms < 200  # generous: a byte-per-step loop takes ~200 ms on these machines


@pytest.mark.parametrize("num_centers", [2, 3, 5, 8, 64])
def test_quantize_counts_tf_matches_numpy(num_centers):
    rng = np.random.default_rng(num_centers)
    counts = rng.integers(0, 1000, (60, num_centers)) * (rng.random((60, num_centers)) < 0.5)
    counts[0] = 0
    counts[1] = 0
    counts[1, -1] = 7  # a single occurring symbol
    counts[2, :] = 1 << 24  # large counts
    for precision in range(int(np.ceil(np.log2(num_centers))), 17):
        ref = tables.quantize_counts_np(counts, precision)
        got = tables.quantize_counts(tf.constant(counts), tf.constant(precision, tf.int64))
        np.testing.assert_array_equal(got.numpy(), ref)
        occurring = counts.sum(1) > 0
        assert np.all(ref[occurring].sum(1) == 1 << precision)
        assert np.array_equal(ref > 0, counts > 0)


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("shape,num_centers", [((3, 1, 1), 2), ((4, 1, 3), 5), ((5, 7, 4), 5),
                                               ((2, 9, 2), 8)])
def test_contexts_tf_matches_numpy_and_are_possible(structure, shape, num_centers):
    symbols = np.random.default_rng(1).integers(0, num_centers, shape).astype(np.int32)
    ref = context_index_np(symbols, num_centers, structure)
    got = context_index(tf.constant(symbols), num_centers, structure).numpy()
    np.testing.assert_array_equal(got, ref)
    channels, width = shape[2], shape[1]
    possible = possible_contexts_np(channels, num_centers, structure, width)
    assert possible.size == num_contexts(channels, num_centers, structure)
    assert possible[ref].all()
    tf_possible = possible_contexts(tf.constant(channels, tf.int64),
                                    tf.constant(num_centers, tf.int64),
                                    tf.constant(structure), tf.constant(width, tf.int64))
    np.testing.assert_array_equal(tf_possible.numpy(), possible)
    anchor = anchors_np(channels, num_centers, structure)
    tf_anchor = anchors(tf.constant(channels, tf.int64), tf.constant(num_centers, tf.int64),
                        tf.constant(structure))
    np.testing.assert_array_equal(tf_anchor.numpy(), anchor)
    order = symbol_order_np(anchor, num_centers)
    np.testing.assert_array_equal(symbol_order(tf.constant(anchor), num_centers).numpy(), order)
    assert np.array_equal(np.sort(order, 1), np.tile(np.arange(num_centers), (len(order), 1)))
    assert np.array_equal(order[:, 0], anchor)  # the anchor's frequency is written first


def test_bit_fields_round_trip():
    rng = np.random.default_rng(2)
    widths = rng.integers(0, 33, 200)
    values = np.array([int(rng.integers(0, 1 << int(w))) if w else 0 for w in widths])
    packed = bitops.pack_bits(tf.constant(values), tf.constant(widths)).numpy()
    assert len(packed) == (widths.sum() + 7) // 8
    offsets = np.cumsum(widths) - widths
    bits = bitops.unpack_bits(tf.constant(packed))
    np.testing.assert_array_equal(bitops.read_fields(bits, offsets, widths).numpy(), values)
    assert np.array_equal(bitops.bit_length(tf.constant([0, 1, 2, 3, 255, 256, 1 << 32])).numpy(),
                          [0, 1, 2, 2, 8, 9, 33])
    assert bitops.to_string(tf.constant([0, 84, 255])).numpy() == b"\x00T\xff"


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_table_section_written_in_tf_parses_in_numpy(structure):
    for shape, num_centers in [((6, 1, 3), 5), ((6, 7, 4), 5), ((9, 9, 2), 8), ((2, 3, 1), 2)]:
        symbols = np.random.default_rng(3).integers(0, num_centers, shape)
        symbols[: shape[0] // 2] = 0  # mixed: some very skewed contexts
        index = context_index_np(symbols, num_centers, structure)
        k = num_contexts(shape[2], num_centers, structure)
        counts = np.bincount((index * num_centers + symbols).ravel(),
                             minlength=k * num_centers).reshape(k, num_centers)
        order = symbol_order_np(anchors_np(shape[2], num_centers, structure), num_centers)
        chosen = tables.choose_file_tables(tf.constant(counts), num_centers,
                                           order=tf.constant(order))
        possible = possible_contexts_np(shape[2], num_centers, structure, shape[1])
        section = tables.write_table_section(chosen.freqs, chosen.precision, chosen.classes,
                                             tf.constant(possible), tf.constant(order)).numpy()
        raw = section.astype(np.uint8).tobytes()
        base, step = int(chosen.base[0]), int(chosen.step[0])
        class_bits = tables.CLASS_BITS * possible.sum()
        assert len(raw) == (class_bits + int(chosen.field_bits[0]) + 7) // 8
        freqs, precision = tables.parse_table_section_np(
            raw, shape[2], num_centers, structure, shape[1], base, step)
        np.testing.assert_array_equal(freqs, chosen.freqs.numpy())
        np.testing.assert_array_equal(precision, chosen.precision.numpy())
        assert np.all(freqs[counts > 0] >= 1)  # every occurring symbol is codable
        lookup, ok = tables.read_table_section(
            tf.constant(section), tf.constant(shape[2], tf.int64),
            tf.constant(num_centers, tf.int64), tf.constant(structure),
            tf.constant(shape[1], tf.int64), chosen.base[0], chosen.step[0])
        assert bool(ok)
        np.testing.assert_array_equal(lookup.numpy(), tables.lookup_rows_np(freqs, precision))
        if raw:
            with pytest.raises(BitstreamError):
                tables.parse_table_section_np(raw + b"\x00", shape[2], num_centers, structure,
                                              shape[1], base, step)


def test_fit_model_tables():
    symbols = [np.random.default_rng(i).integers(0, 5, (2, 6, 7, 3)) for i in range(3)]
    fitted = tables.fit_model_tables(symbols, 5, 3)
    assert fitted.dtype == np.int32 and fitted.shape == (3 * 6**3, 5)
    assert tables.model_tables_structure(fitted, 5, 3) == 4
    assert np.all(fitted >= 1) and np.all(fitted.sum(1) == 1 << 16)
    with pytest.raises(ValueError):
        tables.model_tables_structure(fitted[:-1], 5, 3)
    with pytest.raises(ValueError):
        tables.fit_model_tables(symbols, 5, 3, structure=2)
