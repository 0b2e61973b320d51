"""Bit-exactness of the stock-op range decoder against tensorflow-compression's own decoder.

tfc is the reference: every test encodes (or takes arbitrary bytes) and compares our symbols
with tfc's decode of the same strings, symbol for symbol, including past the end of a stream
and on garbage, where "whatever tfc does" is the only correct answer.
"""

from __future__ import annotations

import ast
import functools
import pathlib
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf

tfc = pytest.importorskip("tensorflow_compression")

from tfgc.coding import stock_range_decoder as srd  # noqa: E402
from tfgc.coding.stock_range_decoder import StockRangeDecoder, decode_index_all  # noqa: E402

PRECISIONS = (1, 2, 3, 5, 8, 12, 15, 16)


def _random_cdf(rng: np.random.Generator, precision: int, symbols: int) -> list[int]:
    """A CDF with `symbols` entries that may repeat values (zero-probability symbols)."""
    cuts = np.sort(rng.integers(0, 2**precision + 1, size=symbols - 1))
    return [0, *cuts.tolist(), 2**precision]


def _random_tables(
    rng: np.random.Generator, count: int, overflow: bool = False
) -> tuple[np.ndarray, list[list[int]]]:
    """tfc's 2-D padded lookup and, per table, its unpadded row (for the 1-D form).

    With `overflow`, even-numbered tables use tfc's overflow mode (negative precision).
    """
    rows = []
    for t in range(count):
        precision = PRECISIONS[t % len(PRECISIONS)]
        cdf = _random_cdf(rng, precision, int(rng.integers(2, 9)))
        rows.append([-precision if overflow and t % 2 == 0 else precision, *cdf])
    width = max(len(r) for r in rows) + 1  # at least one padding column everywhere
    lookup = np.array([r + [r[-1]] * (width - len(r)) for r in rows], np.int32)
    return lookup, rows


def _symbol_probabilities(row: np.ndarray) -> np.ndarray:
    """Probabilities of the encodable symbols of a lookup row (zero-probability ones: 0)."""
    cdf = row[1:]
    last = int(np.argmax(cdf == 2 ** abs(int(row[0]))))  # tfc's row ends at the first 2**p
    pmf = np.diff(cdf[: last + 1]).astype(np.float64)
    return pmf / pmf.sum()


def _random_symbols(rng: np.random.Generator, lookup: np.ndarray, index: np.ndarray):
    probs = [_symbol_probabilities(row) for row in lookup]
    flat = [rng.choice(len(probs[i]), p=probs[i]) for i in index.ravel()]
    return np.array(flat, np.int32).reshape(index.shape)


def _tfc_encode(lookup: np.ndarray, index: np.ndarray, values: np.ndarray) -> bytes:
    handle = tfc.create_range_encoder([1], lookup)
    handle = tfc.entropy_encode_index(handle, index[None], values[None])
    return tfc.entropy_encode_finalize(handle).numpy()[0]


def _tfc_decode(strings, lookup, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    handle = tfc.create_range_decoder(tf.constant(strings, tf.string), lookup)
    handle, values = tfc.entropy_decode_index(handle, index, index.shape[1:], tf.int32)
    return values.numpy(), tfc.entropy_decode_finalize(handle).numpy()


def _stock_decode_and_finalize(strings, lookup, index, overflow=False):
    """Our decoder driven by a caller's own while loop, as the context-model decoder does."""
    state = StockRangeDecoder.create(strings, lookup, overflow=overflow)

    def body(step, state, out):
        state, symbols = StockRangeDecoder.decode_index(state, index[:, step])
        return step + 1, state, out.write(step, symbols)

    m = tf.shape(index)[1]
    # One spare slot so that stacking works for m == 0 too.
    out = tf.TensorArray(tf.int32, size=m + 1, element_shape=[None])
    out = out.write(m, tf.zeros(tf.shape(index)[:1], tf.int32))
    _, state, out = tf.while_loop(lambda step, *_: step < m, body, (tf.constant(0), state, out))
    symbols = tf.reshape(tf.transpose(out.stack()[:m]), tf.shape(index))
    return symbols, StockRangeDecoder.finalize_streams(state), StockRangeDecoder.finalize(state)


# Traced once per lookup rank with unknown n, m, T and width: what an exported signature does.
_SIG_2D = [
    tf.TensorSpec([None], tf.string),
    tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None, None], tf.int32),
]
_SIG_1D = [_SIG_2D[0], tf.TensorSpec([None], tf.int32), _SIG_2D[2]]
_decode_2d = tf.function(_stock_decode_and_finalize, input_signature=_SIG_2D)
_decode_1d = tf.function(_stock_decode_and_finalize, input_signature=_SIG_1D)
_decode_2d_overflow = tf.function(
    functools.partial(_stock_decode_and_finalize, overflow=True), input_signature=_SIG_2D)
_decode_all = tf.function(decode_index_all, input_signature=_SIG_2D)
_decode_all_1d = tf.function(decode_index_all, input_signature=_SIG_1D)


class Case(NamedTuple):
    lookup: np.ndarray  # int32 [T, w], tfc's 2-D padded form
    rows: list[list[int]]  # the same tables unpadded
    index: np.ndarray  # int32 [n, m]: table per symbol, also past each stream's end
    values: np.ndarray  # int32 [n, m]: encoded symbols (the first counts[i] of row i)
    counts: list[int]  # symbols encoded into each stream
    strings: list[bytes]  # tfc's encoding


def _streams_case(seed: int, overflow: bool = False) -> Case:
    """Streams of 0..60 symbols (incl. empty and single-symbol), each encoded on its own."""
    rng = np.random.default_rng(seed)
    lookup, rows = _random_tables(rng, 11, overflow=overflow)
    counts = [0, 1, 0, 1, 2, *rng.integers(0, 61, size=19).tolist()]
    m = max(counts) + 7  # every stream is also decoded past its end
    index = rng.integers(0, len(lookup), size=(len(counts), m)).astype(np.int32)
    values = _random_symbols(rng, lookup, index)
    if overflow:
        # Out-of-range values both ways go through the Elias-gamma escape.
        big = rng.integers(-(2**20), 2**20, size=values.shape)
        escaped = (lookup[index, 0] < 0) & (rng.random(values.shape) < 0.3)
        values = np.where(escaped, big, values).astype(np.int32)
        # The extremes: tfc's encoder never returns for an Elias-gamma magnitude >= 2**30.
        longest = int(np.argmax(counts))
        index[longest, :3] = 0
        values[longest, :3] = [2**30 - 2, -(2**30) + 1, -1]
    strings = [_tfc_encode(lookup, index[i, :c], values[i, :c]) for i, c in enumerate(counts)]
    return Case(lookup, rows, index, values, counts, strings)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_tfc_on_many_streams(seed: int) -> None:
    case = _streams_case(seed)
    assert len(set(map(len, case.strings))) > 3, "streams should differ in length"
    assert b"" in case.strings

    ours, fin_streams, fin = _decode_2d(case.strings, case.lookup, case.index)
    theirs, tfc_fin = _tfc_decode(case.strings, case.lookup, case.index)

    np.testing.assert_array_equal(ours.numpy(), theirs)  # also past each stream's end
    for i, c in enumerate(case.counts):
        np.testing.assert_array_equal(ours.numpy()[i, :c], case.values[i, :c])
    encoded = np.arange(case.index.shape[1])[None] < np.array(case.counts)[:, None]
    assert case.values[encoded].any(), "all-zero symbols would prove little"
    np.testing.assert_array_equal(fin_streams.numpy(), tfc_fin)
    assert bool(fin.numpy()) == bool(tfc_fin.all())


def test_decode_index_all_matches_tfc() -> None:
    case = _streams_case(3)
    ours = _decode_all(case.strings, case.lookup, case.index).numpy()
    theirs, _ = _tfc_decode(case.strings, case.lookup, case.index)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.int32 and ours.shape == case.index.shape


def test_one_dimensional_lookup_matches_two_dimensional() -> None:
    case = _streams_case(4)
    # tfc's 1-D form: rows concatenated, with trailing 2**p copies allowed after a row. Rows
    # go in reverse so that no row starts with the previous row's 2**p (tfc would take a
    # precision of 2 after a precision-1 row for padding).
    reversed_rows = case.rows[::-1]
    flat = np.array(
        [v for t, row in enumerate(reversed_rows) for v in row + [row[-1]] * (t % 3)],
        np.int32)
    index = len(case.rows) - 1 - case.index
    ours, _, _ = _decode_1d(case.strings, flat, index)
    theirs, _ = _tfc_decode(case.strings, flat, index)
    np.testing.assert_array_equal(ours.numpy(), theirs)
    np.testing.assert_array_equal(_decode_all_1d(case.strings, flat, index).numpy(), theirs)
    for i, c in enumerate(case.counts):
        np.testing.assert_array_equal(ours.numpy()[i, :c], case.values[i, :c])


def test_overflow_tables_match_tfc() -> None:
    case = _streams_case(5, overflow=True)
    ours, _, _ = _decode_2d_overflow(case.strings, case.lookup, case.index)
    # decode_index_all picks the overflow decoder by itself.
    automatic = _decode_all(case.strings, case.lookup, case.index)
    np.testing.assert_array_equal(automatic.numpy(), ours.numpy())
    for i, c in enumerate(case.counts):
        # Stream by stream and only up to its end: past the end tfc's escape decoding can
        # spin forever on the implicit zero bytes.
        theirs, _ = _tfc_decode(case.strings[i : i + 1], case.lookup, case.index[i : i + 1, :c])
        np.testing.assert_array_equal(ours.numpy()[i, :c], theirs[0])
        np.testing.assert_array_equal(ours.numpy()[i, :c], case.values[i, :c])
    decoded = ours.numpy()
    assert decoded.max() == 2**30 - 2 and decoded.min() == -(2**30) + 1


def test_truncated_and_garbage_strings_decode_like_tfc() -> None:
    rng = np.random.default_rng(6)
    case = _streams_case(6)
    damaged = [s[: len(s) // 2] for s in case.strings]  # truncated
    damaged += [bytes(rng.integers(0, 256, size=int(rng.integers(1, 40)), dtype=np.uint8))
                for _ in range(12)]  # garbage
    damaged += [b"\xff" * 9, b"\x00" * 5, b"\xff", b"\x80\x00\x00\x00\x00\x01"]
    index = rng.integers(0, len(case.lookup), size=(len(damaged), 90)).astype(np.int32)

    ours, fin_streams, _ = _decode_2d(damaged, case.lookup, index)
    theirs, tfc_fin = _tfc_decode(damaged, case.lookup, index)
    np.testing.assert_array_equal(ours.numpy(), theirs)
    np.testing.assert_array_equal(fin_streams.numpy(), tfc_fin)
    assert not tfc_fin.all()


def test_garbage_with_overflow_tables_never_hangs() -> None:
    # tfc itself can loop without end here (an all-zero tail is an endless Elias-gamma
    # prefix), so we only require an answer of the right shape.
    rng = np.random.default_rng(7)
    lookup, _ = _random_tables(rng, 4, overflow=True)
    lookup[0, 1:] = [0] + [0] * (lookup.shape[1] - 3) + [lookup[0, -1]]  # escape-only table
    strings = [b"", b"\x00" * 3, bytes(rng.integers(0, 256, size=25, dtype=np.uint8))]
    index = np.zeros((3, 20), np.int32)
    ours, _, _ = _decode_2d_overflow(strings, lookup, index)
    assert ours.shape == (3, 20)


def test_overflow_tables_need_the_overflow_decoder() -> None:
    case = _streams_case(13, overflow=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="overflow=True"):
        _decode_2d(case.strings, case.lookup, case.index)


def test_finalize_flags_unread_bytes_like_tfc() -> None:
    case = _streams_case(8)
    nothing = np.zeros_like(case.index[:, :0])
    ours, fin_streams, fin = _decode_2d(case.strings, case.lookup, nothing)
    _, tfc_fin = _tfc_decode(case.strings, case.lookup, nothing)
    np.testing.assert_array_equal(fin_streams.numpy(), tfc_fin)
    assert not bool(fin.numpy())
    assert ours.shape == (len(case.strings), 0)


@pytest.mark.parametrize("m", [0, 1, 2, 5])
def test_finalize_matches_tfc_on_short_strings(m: int) -> None:
    # Lengths around the 4-byte initial read and the 2-byte refills, where "read to the
    # end" flips.
    lookup = np.array([[16, 0, 1, 2**16, 2**16], [3, 0, 4, 7, 8]], np.int32)
    rng = np.random.default_rng(12)
    strings = [b"\x00" * k for k in range(9)] + [b"\xff" * k for k in range(1, 9)]
    strings += [bytes(rng.integers(0, 256, size=k, dtype=np.uint8)) for k in range(9)]
    index = rng.integers(0, 2, size=(len(strings), m)).astype(np.int32)
    ours, fin_streams, _ = _decode_2d(strings, lookup, index)
    theirs, tfc_fin = _tfc_decode(strings, lookup, index)
    np.testing.assert_array_equal(ours.numpy(), theirs)
    np.testing.assert_array_equal(fin_streams.numpy(), tfc_fin)
    assert tfc_fin.any() and not tfc_fin.all()


def test_empty_batch() -> None:
    lookup, _ = _random_tables(np.random.default_rng(9), 3)
    ours = _decode_all(tf.zeros([0], tf.string), lookup, tf.zeros([0, 5], tf.int32))
    assert ours.shape == (0, 5)
    ours = _decode_all(tf.constant([b"", b"\x01"]), lookup, tf.zeros([2, 0], tf.int32))
    assert ours.shape == (2, 0)


def test_eager_stepwise_api() -> None:
    case = _streams_case(10)
    state = StockRangeDecoder.create(tf.constant(case.strings), case.lookup)
    decoded = []
    for step in range(12):
        state, symbols = StockRangeDecoder.decode_index(state, case.index[:, step])
        assert symbols.dtype == tf.int32 and symbols.shape == (len(case.strings),)
        decoded.append(symbols.numpy())
    theirs, _ = _tfc_decode(case.strings, case.lookup, case.index[:, :12])
    np.testing.assert_array_equal(np.stack(decoded, 1), theirs)


def test_wrong_table_changes_symbols() -> None:
    # Guards against a test setup that would pass whatever the decoder does.
    case = _streams_case(11)
    shifted = np.roll(case.lookup, 1, axis=0)
    ours, _, _ = _decode_2d(case.strings, shifted, case.index)
    theirs, _ = _tfc_decode(case.strings, case.lookup, case.index)
    assert (ours.numpy() != theirs).any()


@pytest.mark.parametrize(
    "bad_row",
    [
        [17, 0, 2**17],  # precision out of range
        [0, 0, 1],  # precision out of range
        [4, 1, 16, 16],  # does not start with 0
        [4, 0, 9, 5, 16],  # not monotonic
        [4, 0, 5, 15, 15],  # does not end with 2**p
        [4, 0, 16, 3, 16],  # something other than padding after the end
    ],
)
def test_invalid_lookup_is_rejected_like_tfc(bad_row: list[int]) -> None:
    lookup = np.array([bad_row], np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tfc.create_range_decoder(tf.constant([b""]), lookup)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _decode_2d([b"\x12\x34"], lookup, np.zeros([1, 1], np.int32))


@pytest.mark.parametrize(
    "bad_flat",
    [
        [1, 0, 1, 2, 2, 0, 3, 4],  # the 2 that should start row 2 reads as row 1's padding
        [3, 0, 4, 8, 2, 0],  # ends early
        [4, 0, 16, 2, 0, 3],  # second row does not end with 2**p
    ],
)
def test_invalid_flat_lookup_is_rejected_like_tfc(bad_flat: list[int]) -> None:
    lookup = np.array(bad_flat, np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tfc.create_range_decoder(tf.constant([b""]), lookup)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _decode_1d([b"\x12\x34"], lookup, np.zeros([1, 1], np.int32))


@pytest.mark.parametrize("bad_index", [-1, 4])
def test_index_out_of_range_is_an_error_like_tfc(bad_index: int) -> None:
    lookup, _ = _random_tables(np.random.default_rng(14), 4)
    index = np.array([[0, 1], [2, bad_index]], np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _tfc_decode([b"\x12\x34", b"\x56"], lookup, index)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _decode_2d([b"\x12\x34", b"\x56"], lookup, index)


def test_module_is_free_of_tfc() -> None:
    source = pathlib.Path(srd.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not any(name.startswith("tensorflow_compression") for name in imported)

    graph = _decode_all.get_concrete_function().graph
    op_types = {op.type for op in graph.get_operations()}
    for func in graph._functions.values():  # while/cond bodies
        op_types.update(node.op for node in func.definition.node_def)
    assert "While" in op_types or "StatelessWhile" in op_types
    custom = {t for t in op_types if t.startswith(("Entropy", "CreateRange", "RunLength"))}
    assert not custom
