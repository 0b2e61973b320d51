"""A range decoder for tensorflow-compression bitstreams, built only from stock TF ops.

Stock TF Serving (and the TFLite / TF.js converters) cannot load tfc's custom coding ops, so
the exported `decompress` signature decodes with this module instead. It reproduces tfc's
range decoder (tfc 2.14.1, `RangeDecoder` + the `EntropyDecodeIndex` kernel) bit for bit,
including what it does on truncated or garbage input, so a file written with tfc's encoder
decodes identically with either backend.

Every stream of the batch is decoded in lockstep: one loop step decodes one symbol of each of
the `n` streams with vectorised int64 arithmetic. Per-row streams therefore make this decoder
fast enough; a single long stream is decoded one symbol per step.

How the arithmetic maps onto tfc's coder (32-bit state, 16-bit renormalisation):

* tfc keeps `base`, `size - 1` and `value` as uint32. The search and the interval update only
  ever need `offset = value - base (mod 2**32)`, which never wraps once tracked on its own
  (`0 <= offset <= size - 1` is an invariant, even on garbage input). So the hot path works on
  `offset` and needs no modular masking; `base` is kept only for `finalize`.
* Every table is rescaled to precision 16 once (`cdf << (16 - precision)`): comparing
  `size * cdf16 < (offset + 1) << 16` and taking `(size * cdf16) >> 16` are exactly tfc's
  `size * cdf < (offset + 1) << precision` and `(size * cdf) >> precision`, so one code path
  serves rows of mixed precision without a per-row shift.
* The decoded symbol is the number of CDF entries `cdf[1:]` whose scaled bound lies below the
  target. That is the same index tfc's binary search finds (the predicate is monotone), and
  padding entries equal to `2**precision` never count, which is why padded 2-D tables work.
* Bytes are read as big-endian 16-bit words; past the end of a stream zero words are read, as
  tfc does.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

__all__ = [
    "StockRangeDecoder",
    "StockRangeDecoderState",
    "decode_index_all",
    "lookup_to_matrix",
]

_MASK32 = 0xFFFFFFFF
# The longest Elias-gamma prefix the overflow decoder follows. tfc's encoder only terminates
# for magnitudes below 2**30 (at most 29 leading zeros); on garbage tfc's decoder can loop
# for ever, we stop after this many zeros instead (the symbol is then garbage too).
_MAX_GAMMA_ZEROS = 32
# Scaled CDF of a fair bit ({0, 1, 2} at precision 1), as used by tfc's overflow escape code.
_BIT_CDF16 = (1 << 15, 1 << 16)


class StockRangeDecoderState(NamedTuple):
    """Decoder state: a flat tuple of tensors, so it can be a `tf.while_loop` loop variable.

    Per-stream fields have shape [n]; `words` is [n, k]; the two table fields are [T, w] and
    [T] and never change while decoding.
    """

    words: tf.Tensor  # int64 [n, k]: stream bytes as big-endian uint16, zero-padded
    length: tf.Tensor  # int64 [n]: stream length in bytes (for finalize)
    word_pos: tf.Tensor  # int64 [n]: number of 16-bit words consumed so far
    base: tf.Tensor  # int64 [n]: tfc's uint32 `base`
    size_minus1: tf.Tensor  # int64 [n]: tfc's uint32 `size - 1`
    offset: tf.Tensor  # int64 [n]: `value - base` mod 2**32
    cdf16: tf.Tensor  # int64 [T, w]: cdf[1:] of every table, rescaled to precision 16
    escape: tf.Tensor  # int64 [T]: escape symbol of overflow tables, -1 for plain tables


def _matrix_from_vector(lookup: tf.Tensor) -> tf.Tensor:
    """Split tfc's 1-D concatenated lookup into rows, the way tfc's parser walks it.

    Each row is `[precision, 0, ..., 2**|precision|]`, ending at the first `2**|precision|`;
    further copies of that value right after a row are padding and skipped. Rows are found
    with a loop over rows (tables are small) and padded with their own `2**|precision|`.
    """
    lookup = tf.cast(tf.reshape(lookup, [-1]), tf.int64)
    total = tf.size(lookup, out_type=tf.int64)
    positions = tf.range(total, dtype=tf.int64)

    def body(start, starts, ends):
        # Every read stays in range; malformed rows are reported by the checks on the result.
        precision = tf.clip_by_value(tf.abs(lookup[start]), 0, 16)
        last_value = tf.bitwise.left_shift(tf.constant(1, tf.int64), precision)
        is_last = tf.logical_and(tf.equal(lookup, last_value), positions >= start + 2)
        found = tf.reduce_any(is_last)
        end = tf.where(found, tf.argmax(tf.cast(is_last, tf.int32), output_type=tf.int64) + 1,
                       start)
        not_padding = tf.logical_and(tf.not_equal(lookup, last_value), positions >= end)
        next_start = tf.where(
            tf.logical_and(found, tf.reduce_any(not_padding)),
            tf.argmax(tf.cast(not_padding, tf.int32), output_type=tf.int64),
            total,
        )
        return next_start, starts.write(starts.size(), start), ends.write(ends.size(), end)

    _, starts, ends = tf.while_loop(
        lambda start, *_: start < total,
        body,
        (
            tf.constant(0, tf.int64),
            tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[]),
            tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[]),
        ),
    )
    starts = starts.stack()
    ends = ends.stack()
    tf.debugging.assert_greater_equal(
        ends - starts, tf.constant(3, tf.int64), message="CDF must end with 1 << precision.")
    width = tf.reduce_max(tf.concat([ends - starts, [3]], axis=0))
    cols = starts[:, None] + tf.range(width)[None, :]
    inside = cols < ends[:, None]
    values = tf.gather(lookup, tf.minimum(cols, tf.maximum(total - 1, 0)))
    padding = tf.bitwise.left_shift(
        tf.constant(1, tf.int64), tf.clip_by_value(tf.abs(tf.gather(lookup, starts)), 0, 16))
    return tf.where(inside, values, padding[:, None])


def lookup_to_matrix(lookup: tf.Tensor) -> tf.Tensor:
    """tfc's lookup (1-D or 2-D) as a validated int64 [T, w] matrix, rows padded with 2**p.

    Raises InvalidArgumentError (at run time) for tables tfc would also reject.
    """
    lookup = tf.convert_to_tensor(lookup)
    if lookup.dtype != tf.int32:
        raise TypeError(f"lookup must be int32 like tfc's, got {lookup.dtype.name}")
    rank = lookup.shape.rank
    if rank == 1:
        table = _matrix_from_vector(lookup)
    elif rank == 2:
        table = tf.cast(lookup, tf.int64)
    else:
        raise ValueError(f"lookup must be rank 1 or 2 (static rank), got shape {lookup.shape}")

    tf.debugging.assert_greater_equal(
        tf.shape(table, out_type=tf.int64)[1], tf.constant(3, tf.int64),
        message="CDF must have at least three values: precision, 0, 1 << precision.")
    precision = tf.abs(table[:, 0])
    tf.debugging.assert_greater_equal(precision, tf.constant(1, tf.int64),
                                      message="precision not in [1, 16].")
    tf.debugging.assert_less_equal(precision, tf.constant(16, tf.int64),
                                   message="precision not in [1, 16].")
    cdf = table[:, 1:]
    tf.debugging.assert_equal(cdf[:, 0], tf.constant(0, tf.int64),
                              message="CDF must start with 0.")
    tf.debugging.assert_greater_equal(cdf[:, 1:], cdf[:, :-1],
                                      message="CDF must be monotonically increasing.")
    tf.debugging.assert_equal(
        cdf[:, -1], tf.bitwise.left_shift(tf.constant(1, tf.int64), precision),
        message="CDF must end with 1 << precision.")
    return table


class StockRangeDecoder:
    """Drop-in for tfc's `create_range_decoder` / `entropy_decode_index` / `..._finalize`."""

    @staticmethod
    def create(strings: tf.Tensor, lookup: tf.Tensor) -> StockRangeDecoderState:
        """State for decoding `strings` (tf.string [n]) with tfc-format `lookup` (int32)."""
        strings = tf.reshape(tf.convert_to_tensor(strings, tf.string), [-1])
        table = lookup_to_matrix(lookup)
        precision = table[:, 0]
        cdf = table[:, 2:]  # cdf[1:]; cdf[0] == 0 is implied
        abs_precision = tf.abs(precision)
        cdf16 = tf.bitwise.left_shift(cdf, (16 - abs_precision)[:, None])
        # tfc's overflow escape is the last symbol before the first 2**p: the number of
        # cdf[1:] entries below 2**p.
        below_top = tf.reduce_sum(tf.cast(cdf16 < (1 << 16), tf.int64), axis=1)
        escape = tf.where(precision < 0, below_top, -tf.ones_like(below_top))

        length = tf.strings.length(strings)
        max_length = tf.reduce_max(tf.concat([length, [0]], axis=0))
        # Two extra zero words: the initial 4-byte read fits, and there is always a zero word
        # after the data to read past the end.
        padded_length = 2 * ((max_length + 1) // 2) + 4
        zeros = tf.strings.reduce_join(tf.fill([padded_length], b"\x00"))
        padded = strings + tf.strings.substr(
            tf.fill(tf.shape(strings), zeros), tf.zeros_like(length), padded_length - length)
        words = tf.io.decode_raw(padded, tf.uint16, little_endian=False)
        words = tf.reshape(tf.cast(words, tf.int64), [tf.size(strings), padded_length // 2])

        value = tf.bitwise.bitwise_or(tf.bitwise.left_shift(words[:, 0], 16), words[:, 1])
        zero = tf.zeros_like(value)
        return StockRangeDecoderState(
            words=words,
            length=tf.cast(length, tf.int64),
            word_pos=zero + 2,
            base=zero,
            size_minus1=zero + _MASK32,
            offset=value,
            cdf16=cdf16,
            escape=escape,
        )

    @staticmethod
    def decode_index(
        state: StockRangeDecoderState, index: tf.Tensor
    ) -> tuple[StockRangeDecoderState, tf.Tensor]:
        """Decode one symbol per stream, stream i with table `index[i]` (int32 [n])."""
        index = tf.convert_to_tensor(index, tf.int32)
        state, symbols = _decode_step(state, tf.gather(state.cdf16, index))
        escape = tf.gather(state.escape, index)
        is_escape = tf.equal(symbols, escape)
        state, symbols = tf.cond(
            tf.reduce_any(is_escape),
            lambda: _decode_overflow(state, symbols, escape, is_escape),
            lambda: (state, symbols),
        )
        return state, tf.cast(symbols, tf.int32)

    @staticmethod
    def finalize_streams(state: StockRangeDecoderState) -> tf.Tensor:
        """tfc's per-stream `entropy_decode_finalize` result (bool [n]): a weak sanity check.

        True does not mean the data was right: tfc's check passes on truncated streams and
        on decoding too many symbols. Integrity needs its own check (CRC in the container).
        """
        read_all = 2 * state.word_pos >= state.length
        base = state.base
        value = tf.bitwise.bitwise_and(base + state.offset, _MASK32)
        upper = tf.bitwise.bitwise_and(base + state.size_minus1, _MASK32)
        below = base - 1
        shift = tf.where(
            tf.bitwise.right_shift(below, 24) < tf.bitwise.right_shift(upper, 24),
            tf.constant(24, tf.int64), tf.constant(16, tf.int64))
        rounded = tf.bitwise.left_shift(tf.bitwise.right_shift(below, shift) + 1, shift)
        implicit_zeros = tf.logical_or(tf.equal(base, 0), upper < base)
        ok = tf.where(
            implicit_zeros,
            tf.equal(value, 0),
            tf.equal(tf.bitwise.bitwise_and(rounded, _MASK32), value))
        return tf.logical_and(read_all, ok)

    @staticmethod
    def finalize(state: StockRangeDecoderState) -> tf.Tensor:
        """True iff tfc's finalize would be True for every stream (bool scalar)."""
        return tf.reduce_all(StockRangeDecoder.finalize_streams(state))


def _decode_step(
    state: StockRangeDecoderState, cdf16: tf.Tensor, active: tf.Tensor | None = None
) -> tuple[StockRangeDecoderState, tf.Tensor]:
    """One decode per stream with per-stream scaled cdf[1:] rows (`cdf16`, [n, w] or [1, w]).

    Streams where `active` is False keep their state (used by the overflow escape loop).
    Returns int64 symbols.
    """
    size = state.size_minus1 + 1
    scaled = size[:, None] * cdf16
    target = tf.bitwise.left_shift(state.offset + 1, 16)
    below = scaled < target[:, None]
    below_int = tf.cast(below, tf.int64)
    symbols = tf.reduce_sum(below_int, axis=1)
    # Bounds of the decoded interval: the largest scaled entry below the target (cdf[0] == 0
    # if none) and the smallest one at or above it (always exists: the last one is 2**16).
    low = tf.bitwise.right_shift(tf.reduce_max(scaled * below_int, axis=1), 16)
    high = tf.bitwise.right_shift(
        tf.reduce_min(tf.where(below, tf.constant(1 << 62, tf.int64), scaled), axis=1), 16)

    base = tf.bitwise.bitwise_and(state.base + low, _MASK32)
    offset = state.offset - low
    size_minus1 = high - 1 - low
    renorm = size_minus1 < (1 << 16)
    if active is not None:
        renorm = tf.logical_and(renorm, active)

    num_words = tf.shape(state.words, out_type=tf.int64)[1]
    row_start = tf.range(tf.size(state.word_pos, out_type=tf.int64)) * num_words
    flat_pos = row_start + tf.minimum(state.word_pos, num_words - 1)
    word = tf.gather(tf.reshape(state.words, [-1]), flat_pos)

    new_base = tf.where(
        renorm, tf.bitwise.bitwise_and(tf.bitwise.left_shift(base, 16), _MASK32), base)
    new_size_minus1 = tf.where(
        renorm, tf.bitwise.bitwise_or(tf.bitwise.left_shift(size_minus1, 16), 0xFFFF),
        size_minus1)
    new_offset = tf.where(
        renorm, tf.bitwise.bitwise_or(tf.bitwise.left_shift(offset, 16), word), offset)
    if active is not None:
        new_base = tf.where(active, new_base, state.base)
        new_size_minus1 = tf.where(active, new_size_minus1, state.size_minus1)
        new_offset = tf.where(active, new_offset, state.offset)
    new_state = state._replace(
        word_pos=state.word_pos + tf.cast(renorm, tf.int64),
        base=new_base,
        size_minus1=new_size_minus1,
        offset=new_offset,
    )
    return new_state, symbols


def _decode_overflow(
    state: StockRangeDecoderState,
    symbols: tf.Tensor,
    escape: tf.Tensor,
    is_escape: tf.Tensor,
) -> tuple[StockRangeDecoderState, tf.Tensor]:
    """Follow tfc's overflow escape: an Elias-gamma magnitude then a sign, one bit per step.

    Only streams that decoded an escape symbol take part; each does 2 * zeros + 2 bit
    decodes, and the loop ends when the slowest one is done.
    """
    bit_cdf = tf.constant([_BIT_CDF16], tf.int64)
    # phase: 0 counting leading zeros, 1 reading magnitude bits, 2 reading the sign, 3 done.
    phase = tf.where(is_escape, tf.zeros_like(symbols), tf.fill(tf.shape(symbols),
                                                                 tf.constant(3, tf.int64)))
    zeros = tf.zeros_like(symbols)

    def body(state, phase, count, magnitude, result):
        active = phase < 3
        state, bit = _decode_step(state, bit_cdf, active)
        one = tf.ones_like(bit)
        in_prefix = tf.equal(phase, 0)
        in_bits = tf.equal(phase, 1)
        # Phase 0: a 1 bit (or the cap) ends the unary prefix; `count` zeros were seen.
        zeros_seen = count + 1 - bit
        prefix_done = tf.logical_and(
            in_prefix, tf.logical_or(tf.equal(bit, 1), zeros_seen >= _MAX_GAMMA_ZEROS))
        # Phase 1: `count` more magnitude bits, most significant first.
        bits_left = count - 1
        new_count = tf.where(in_prefix, zeros_seen, tf.where(in_bits, bits_left, count))
        new_magnitude = tf.where(
            prefix_done,
            tf.bitwise.left_shift(one, zeros_seen),
            tf.where(in_bits, tf.bitwise.bitwise_or(
                magnitude, tf.bitwise.left_shift(bit, bits_left)), magnitude))
        # Phase 2: the sign bit; tfc maps (magnitude, sign) back past the escape symbol.
        in_sign = tf.equal(phase, 2)
        new_result = tf.where(
            in_sign, tf.where(tf.equal(bit, 1), -magnitude, magnitude + escape - 1), result)
        to_sign = tf.logical_or(
            tf.logical_and(prefix_done, tf.equal(zeros_seen, 0)),
            tf.logical_and(in_bits, tf.equal(bits_left, 0)))
        new_phase = tf.where(
            in_sign, phase + 1,
            tf.where(to_sign, 2 * one, tf.where(prefix_done, one, phase)))
        return state, new_phase, new_count, new_magnitude, new_result

    state, _, _, _, result = tf.while_loop(
        lambda state, phase, *_: tf.reduce_any(phase < 3),
        body,
        (state, phase, zeros, zeros, symbols),
        maximum_iterations=2 * _MAX_GAMMA_ZEROS + 2,
    )
    return state, result


def decode_index_all(strings: tf.Tensor, lookup: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    """Decode `index.shape[1]` symbols from each of the `n` strings: int32 [n, m].

    Same result as tfc's `create_range_decoder` + `entropy_decode_index(handle, index,
    [m], tf.int32)` with a handle of shape [n].
    """
    index = tf.convert_to_tensor(index, tf.int32)
    state = StockRangeDecoder.create(strings, lookup)
    n = tf.size(state.length)
    m = tf.shape(index)[1]
    index = tf.reshape(index, [n, m])
    index_by_step = tf.transpose(index)

    def body(step, state, out):
        state, symbols = StockRangeDecoder.decode_index(state, index_by_step[step])
        return step + 1, state, out.write(step, symbols)

    # One spare slot written up front: stacking an empty TensorArray fails when n is unknown.
    out = tf.TensorArray(tf.int32, size=m + 1, element_shape=[None])
    out = out.write(m, tf.zeros([n], tf.int32))
    _, _, out = tf.while_loop(lambda step, *_: step < m, body, (tf.constant(0), state, out))
    return tf.reshape(tf.transpose(out.stack()[:m]), [n, m])
