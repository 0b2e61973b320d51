"""Bit-exactness of the stock-op range encoder against tensorflow-compression's own encoder.

tfc is the reference: every test compares our strings with tfc's for the same tables,
indexes and values, byte for byte, then decodes them with both decoders.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

tfc = pytest.importorskip("tensorflow_compression")

from tfgc.coding.stock_range_decoder import decode_index_all  # noqa: E402
from tfgc.coding.stock_range_encoder import encode_index_all  # noqa: E402

# All of them, and 16 (model tables) and the file tables' range 1..16 in particular.
PRECISIONS = tuple(range(1, 17))

_SIG = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None], tf.int32)]
# Traced once with unknown n, m, T and width, as in an exported signature.
_encode = tf.function(encode_index_all, input_signature=_SIG, autograph=False)
_encode_lengths = tf.function(encode_index_all, autograph=False, input_signature=[
    *_SIG, tf.TensorSpec([None], tf.int32)])
_encode_1d = tf.function(encode_index_all, autograph=False, input_signature=[
    _SIG[0], _SIG[1], tf.TensorSpec([None], tf.int32)])

_decode = tf.function(decode_index_all, autograph=False, input_signature=[
    tf.TensorSpec([None], tf.string), _SIG[2], _SIG[0]])


def _random_tables(rng: np.random.Generator, count: int) -> np.ndarray:
    """tfc's 2-D padded lookup: every precision, 2..12 symbols, all frequencies >= 1, some
    very skewed (long runs of one symbol keep the coder's interval near 2**32 boundaries)."""
    rows = []
    for t in range(count):
        precision = PRECISIONS[t % len(PRECISIONS)]
        symbols = int(min(rng.integers(2, 13), 2**precision))
        if t % 3 == 0:  # one dominant symbol
            freqs = np.ones(symbols, np.int64)
            freqs[rng.integers(symbols)] += 2**precision - symbols
        else:
            cuts = np.sort(rng.choice(np.arange(1, 2**precision), symbols - 1, replace=False))
            freqs = np.diff([0, *cuts, 2**precision])
        rows.append([precision, *np.concatenate([[0], np.cumsum(freqs)]).tolist()])
    width = max(len(r) for r in rows) + 1  # at least one padding column everywhere
    return np.array([r + [r[-1]] * (width - len(r)) for r in rows], np.int32)


def _random_values(rng: np.random.Generator, lookup: np.ndarray, index: np.ndarray):
    """Symbols drawn from each table's own distribution."""
    cdf = lookup[:, 1:].astype(np.float64) / (1 << lookup[:, :1])
    u = rng.random(index.shape)
    return (cdf[index] <= u[..., None]).sum(-1).astype(np.int32) - 1


def _tfc_encode(lookup: np.ndarray, index: np.ndarray, values: np.ndarray) -> list[bytes]:
    handle = tfc.create_range_encoder([index.shape[0]], lookup)
    handle = tfc.entropy_encode_index(handle, index, values)
    return tfc.entropy_encode_finalize(handle).numpy().tolist()


def _case(seed: int, n: int = 24, m: int = 700):
    rng = np.random.default_rng(seed)
    lookup = _random_tables(rng, 40)
    index = rng.integers(0, len(lookup), (n, m)).astype(np.int32)
    values = _random_values(rng, lookup, index)
    return rng, lookup, index, values


@pytest.mark.parametrize("seed", [0, 1])
def test_same_strings_as_tfc(seed: int) -> None:
    _, lookup, index, values = _case(seed)
    ours = _encode(index, values, lookup).numpy().tolist()
    theirs = _tfc_encode(lookup, index, values)
    assert ours == theirs
    # The strings decode with both decoders.
    np.testing.assert_array_equal(_decode(ours, lookup, index).numpy(), values)
    handle = tfc.create_range_decoder(ours, lookup)
    _, decoded = tfc.entropy_decode_index(handle, index, index.shape[1:], tf.int32)
    np.testing.assert_array_equal(decoded.numpy(), values)


def test_streams_of_different_lengths() -> None:
    """`lengths` encodes each stream as if alone: tfc with one handle per stream."""
    rng, lookup, index, values = _case(2, n=40, m=300)
    lengths = np.array([0, 1, 0, 2, 3, 300, *rng.integers(0, 301, 34)], np.int32)
    ours = _encode_lengths(index, values, lookup, lengths).numpy().tolist()
    theirs = [_tfc_encode(lookup, index[i:i + 1, :c], values[i:i + 1, :c])[0]
              for i, c in enumerate(lengths)]
    assert ours == theirs
    assert b"" in ours and len(set(map(len, ours))) > 10
    # Round trip through both decoders, each stream up to its length.
    stock = _decode(ours, lookup, index).numpy()
    for i, c in enumerate(lengths):
        np.testing.assert_array_equal(stock[i, :c], values[i, :c])
        row = index[i:i + 1, :c]
        _, decoded = tfc.entropy_decode_index(
            tfc.create_range_decoder(ours[i:i + 1], lookup), row, row.shape[1:], tf.int32)
        np.testing.assert_array_equal(decoded.numpy(), values[i:i + 1, :c])


def test_runs_of_the_most_likely_symbol_and_edge_intervals() -> None:
    """Symbols at the ends of their tables (the cases that straddle 2**32 and carry)."""
    rng, lookup, index, _ = _case(3, n=16, m=2000)
    top = (lookup[:, 1:] < (1 << lookup[:, :1])).sum(1) - 1  # each table's last symbol
    values = np.where(rng.random(index.shape) < 0.5, 0, top[index]).astype(np.int32)
    assert _encode(index, values, lookup).numpy().tolist() == _tfc_encode(lookup, index, values)
    one = np.zeros((3, 500), np.int32)  # precision 1, two symbols: every step renormalises
    values = rng.integers(0, 2, one.shape).astype(np.int32)
    values[0] = 1  # base creeps toward 2**32
    assert (_encode(one, values, lookup).numpy().tolist()
            == _tfc_encode(lookup, one, values))


def test_empty_inputs() -> None:
    lookup = _random_tables(np.random.default_rng(4), 3)
    assert _encode(np.zeros((3, 0), np.int32), np.zeros((3, 0), np.int32),
                   lookup).numpy().tolist() == [b""] * 3
    assert _encode(np.zeros((0, 5), np.int32), np.zeros((0, 5), np.int32),
                   lookup).numpy().shape == (0,)


def test_one_dimensional_lookup() -> None:
    _, lookup, index, values = _case(5, n=4, m=50)
    rows = []
    # Reversed, so that no row starts with the previous row's 2**p (tfc would skip it as
    # padding).
    for row in lookup[::-1]:
        end = int(np.argmax(row[2:] == row[-1])) + 3  # tfc's row ends at the first 2**p
        rows.extend(row[:end].tolist())
    flat = np.array(rows, np.int32)
    assert (_encode_1d(len(lookup) - 1 - index, values, flat).numpy().tolist()
            == _tfc_encode(lookup, index, values))


@pytest.mark.parametrize("change,message", [
    ("index", "index out of range"),
    ("value", "value out of range"),
    ("zero", "zero frequency"),
    ("overflow", "negative precision"),
])
def test_bad_inputs_are_errors(change: str, message: str) -> None:
    lookup = np.array([[2, 0, 1, 3, 4, 4], [3, 0, 4, 4, 8, 8]], np.int32)
    index = np.array([[0, 1, 1]], np.int32)
    values = np.array([[0, 0, 2]], np.int32)
    if change == "index":
        index[0, 1] = 2
    elif change == "value":
        values[0, 0] = 4
    elif change == "zero":
        values[0, 1] = 1  # cdf 4 -> 4 in table 1
    else:
        lookup[0, 0] = -2
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _encode(index, values, lookup)


def test_many_short_streams() -> None:
    """Enough streams that rare endings occur, e.g. finalize in the delayed state with a
    carried word whose low byte is 0 (written as one byte)."""
    rng = np.random.default_rng(6)
    lookup = _random_tables(rng, 40)
    index = rng.integers(0, len(lookup), (20000, 12)).astype(np.int32)
    values = _random_values(rng, lookup, index)
    ours = _encode(index, values, lookup).numpy().tolist()
    assert ours == _tfc_encode(lookup, index, values)
