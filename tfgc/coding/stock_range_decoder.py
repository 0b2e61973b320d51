"""A range decoder for tensorflow-compression bitstreams, built only from stock TF ops.

Stock TF Serving (and the TFLite / TF.js converters) cannot load tfc's custom coding ops, so
the exported `decompress` signature decodes with this module instead. It reproduces tfc's
range decoder (tfc 2.14.1: `RangeDecoder` and the `EntropyDecodeIndex` kernel) bit for bit,
including what it does past the end of a stream and on garbage, so a file written with tfc's
encoder decodes identically with either backend.

All `n` streams are decoded in lockstep: one step decodes one symbol of every stream with
vectorised int64 arithmetic, so per-row streams make this decoder fast enough while a single
long stream costs one loop step per symbol.

How the arithmetic maps onto tfc's coder (uint32 state, 16-bit renormalisation):

* tfc keeps `base`, `size - 1` and `value` as uint32. Decoding only needs
  `offset = value - base (mod 2**32)`, and tracked on its own it never wraps
  (`0 <= offset <= size - 1` holds after every step, even on garbage input), so the hot path
  needs no modular masking. `base` is kept only for `finalize`.
* The interval boundaries of a table are `q_j = (size * cdf_j) >> precision`. tfc's symbol
  is the smallest `j` with `(offset + 1) << precision <= size * cdf_j`, minus one, which is
  the same as counting the `q_j` (j >= 1) that are `<= offset`; the new interval is
  `[q_s, q_{s+1})`. Counting gives the index tfc's binary search finds, and padding entries
  (`2**precision`, so `q = size`) never count, which is why padded 2-D tables just work.
* Tables are rescaled to precision 16 once (`cdf << (16 - precision)`), which leaves every
  `q_j` unchanged, so rows of mixed precision share one code path.
* Bytes are read as big-endian 16-bit words, with zero words past the end of a stream, as
  tfc does.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

__all__ = [
    "StockRangeDecoder",
    "StockRangeDecoderState",
    "StockRangeOverflowState",
    "decode_index_all",
    "lookup_to_matrix",
]

_MASK32 = 0xFFFFFFFF
_LARGE = 1 << 62  # above every interval boundary (those are <= 2**32)
# The longest Elias-gamma prefix the overflow decoder follows. tfc's encoder only terminates
# for magnitudes below 2**30 (at most 29 leading zeros); on garbage tfc's decoder can loop
# for ever, we stop after this many zeros instead (the symbol is then garbage too).
_MAX_GAMMA_ZEROS = 32
# Rescaled cdf[1:] of a fair bit ({0, 1, 2} at precision 1): tfc's overflow escape code.
_BIT_CDF16 = (1 << 15, 1 << 16)


class StockRangeDecoderState(NamedTuple):
    """Decoder state: a flat tuple of tensors, usable as a `tf.while_loop` loop variable.

    Per-stream fields are [n] and `words` is [n, k]; `cdf16` [T, w] and `escape` [T] are the
    tables and never change. Dtypes are all int64 and no static shape changes while decoding.
    """

    words: tf.Tensor  # [n, k]: stream bytes as big-endian uint16, zero-padded (>= 1 zero word)
    word_index: tf.Tensor  # [n]: flat index into `words` of the next word to read
    word_limit: tf.Tensor  # [n]: flat index of the stream's last (always zero) word
    length: tf.Tensor  # [n]: stream length in bytes (for finalize)
    base: tf.Tensor  # [n]: tfc's uint32 `base`
    size_minus1: tf.Tensor  # [n]: tfc's uint32 `size - 1`
    offset: tf.Tensor  # [n]: `value - base` mod 2**32
    cdf16: tf.Tensor  # [T, w]: cdf[1:] of every table rescaled to precision 16, 2**16-padded
    escape: tf.Tensor  # [T]: escape symbol of overflow tables, -1 for the others


class StockRangeOverflowState(StockRangeDecoderState):
    """State of a decoder made with `overflow=True`: `decode_index` follows tfc's escapes.

    A separate type so the choice is static (it survives `tf.while_loop`) and the common,
    escape-free decoder pays nothing for it.
    """

    __slots__ = ()


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
    def create(
        strings: tf.Tensor, lookup: tf.Tensor, overflow: bool = False
    ) -> StockRangeDecoderState:
        """State for decoding `strings` (tf.string [n]) with tfc-format `lookup` (int32).

        `overflow=True` is needed for tables with negative precision (tfc's overflow mode);
        without it such tables fail at run time rather than decode wrongly. It costs a
        little per step even when no escape occurs, hence opt-in.
        """
        strings = tf.reshape(tf.convert_to_tensor(strings, tf.string), [-1])
        table = lookup_to_matrix(lookup)
        precision = table[:, 0]
        if not overflow:
            tf.debugging.assert_non_negative(
                precision,
                message="lookup has overflow tables (negative precision): decode them with "
                        "StockRangeDecoder.create(..., overflow=True)")
        cdf16 = tf.bitwise.left_shift(table[:, 2:], (16 - tf.abs(precision))[:, None])
        # tfc's escape symbol is the last one before the first 2**p: the number of cdf[1:]
        # entries below 2**p.
        below_top = tf.reduce_sum(tf.cast(cdf16 < (1 << 16), tf.int64), axis=1)
        escape = tf.where(precision < 0, below_top, -tf.ones_like(below_top))

        length = tf.strings.length(strings)
        max_length = tf.reduce_max(tf.concat([length, [0]], axis=0))
        # Two zero words more than the longest stream needs: the first 4-byte read always
        # fits, and every stream has a zero word after its data for reads past the end.
        padded_length = 2 * ((max_length + 1) // 2) + 4
        zeros = tf.strings.reduce_join(tf.fill([padded_length], b"\x00"))
        padded = strings + tf.strings.substr(
            tf.fill(tf.shape(strings), zeros), tf.zeros_like(length), padded_length - length)
        words = tf.io.decode_raw(padded, tf.uint16, little_endian=False)
        num_words = tf.cast(padded_length // 2, tf.int64)
        words = tf.reshape(tf.cast(words, tf.int64), tf.stack([tf.size(strings, tf.int64),
                                                               num_words]))
        first_word = tf.range(tf.size(strings, tf.int64)) * num_words

        value = tf.bitwise.bitwise_or(tf.bitwise.left_shift(words[:, 0], 16), words[:, 1])
        state_type = StockRangeOverflowState if overflow else StockRangeDecoderState
        return state_type(
            words=words,
            word_index=first_word + 2,
            word_limit=first_word + num_words - 1,
            length=tf.cast(length, tf.int64),
            base=tf.zeros_like(value),
            size_minus1=tf.fill(tf.shape(value), tf.constant(_MASK32, tf.int64)),
            offset=value,
            cdf16=cdf16,
            escape=escape,
        )

    @staticmethod
    def decode_index(
        state: StockRangeDecoderState, index: tf.Tensor
    ) -> tuple[StockRangeDecoderState, tf.Tensor]:
        """One symbol per stream, stream i with table `index[i]` (int32 [n] -> int32 [n])."""
        index = tf.convert_to_tensor(index, tf.int32)
        state, symbols = _decode_step(state, tf.gather(state.cdf16, index))
        if isinstance(state, StockRangeOverflowState):
            escape = tf.gather(state.escape, index)
            # A while loop that usually runs zero times is cheaper here than a tf.cond.
            state, symbols = _decode_overflow(state, symbols, escape, tf.equal(symbols, escape))
        return state, tf.cast(symbols, tf.int32)

    @staticmethod
    def decode_block(
        state: StockRangeDecoderState, index: tf.Tensor
    ) -> tuple[StockRangeDecoderState, tf.Tensor]:
        """`index.shape[1]` symbols per stream (int32 [n, m] -> int32 [n, m]), m may be 0."""
        index = tf.convert_to_tensor(index, tf.int32)
        n = tf.shape(index)[0]
        m = tf.shape(index)[1]
        index_by_step = tf.TensorArray(tf.int32, size=m, element_shape=[None]).unstack(
            tf.transpose(index))

        def body(step, state, out):
            state, symbols = StockRangeDecoder.decode_index(state, index_by_step.read(step))
            return step + 1, state, out.write(step, symbols)

        # One spare slot written up front: stacking an empty TensorArray fails when n is
        # unknown.
        out = tf.TensorArray(tf.int32, size=m + 1, element_shape=[None])
        out = out.write(m, tf.zeros([n], tf.int32))
        _, state, out = tf.while_loop(
            lambda step, *_: step < m, body, (tf.constant(0), state, out))
        return state, tf.reshape(tf.transpose(out.stack()[:m]), tf.stack([n, m]))

    @staticmethod
    def finalize_streams(state: StockRangeDecoderState) -> tf.Tensor:
        """tfc's per-stream `entropy_decode_finalize` result (bool [n]): a weak sanity check.

        True does not mean the data was right: tfc's check passes on truncated streams and
        on decoding too many symbols. Integrity needs its own check (CRC in the container).
        """
        num_words = tf.shape(state.words, out_type=tf.int64)[1]
        words_read = state.word_index - (state.word_limit - num_words + 1)
        read_all = 2 * words_read >= state.length
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
    """One decode per stream with rescaled cdf[1:] rows `cdf16` ([n, w], or [1, w] for all).

    Streams where `active` is False keep their state (the overflow loop). Returns int64
    symbols. Written for few ops per step: at ~1 us per op the op count is the decode time.
    """
    # Interval boundaries q_j in coder units; the symbol is how many are <= offset.
    bounds = tf.bitwise.right_shift((state.size_minus1 + 1)[:, None] * cdf16, 16)
    below = bounds <= state.offset[:, None]
    symbols = tf.reduce_sum(tf.cast(below, tf.int64), axis=1)
    low = tf.reduce_max(tf.where(below, bounds, tf.constant(0, tf.int64)), axis=1)
    high = tf.reduce_min(tf.where(below, tf.constant(_LARGE, tf.int64), bounds), axis=1)
    size = high - low
    # Renormalise when the new size is <= 2**16: shift base, size and offset left by 16 bits
    # and read the next 16-bit word into offset. A shift of 0 or 16 avoids three selects.
    renorm = size <= (1 << 16)
    if active is not None:
        renorm = tf.logical_and(renorm, active)
    shift = tf.where(renorm, tf.constant(16, tf.int64), tf.constant(0, tf.int64))
    step = tf.bitwise.right_shift(shift, 4)  # 1 where a word is read
    word = tf.gather(tf.reshape(state.words, [-1]),
                     tf.minimum(state.word_index, state.word_limit))
    base = tf.bitwise.bitwise_and(tf.bitwise.left_shift(state.base + low, shift), _MASK32)
    size_minus1 = tf.bitwise.left_shift(size, shift) - 1
    offset = tf.bitwise.left_shift(state.offset - low, shift) + word * step
    if active is not None:
        base = tf.where(active, base, state.base)
        size_minus1 = tf.where(active, size_minus1, state.size_minus1)
        offset = tf.where(active, offset, state.offset)
    new_state = state._replace(
        word_index=state.word_index + step, base=base, size_minus1=size_minus1, offset=offset)
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


def decode_index_all(
    strings: tf.Tensor, lookup: tf.Tensor, index: tf.Tensor, overflow: bool | None = None
) -> tf.Tensor:
    """Decode `index.shape[1]` symbols from each of the `n` strings: int32 [n, m].

    Same result as tfc's `create_range_decoder` + `entropy_decode_index(handle, index, [m],
    tf.int32)` with a handle of shape [n]. `overflow=None` picks the decoder at run time
    from the table precisions (one tf.cond for the whole decode); True/False force it.
    """
    index = tf.convert_to_tensor(index, tf.int32)
    strings = tf.reshape(tf.convert_to_tensor(strings, tf.string), [-1])
    lookup = tf.convert_to_tensor(lookup)

    def decode(with_overflow: bool) -> tf.Tensor:
        state = StockRangeDecoder.create(strings, lookup, overflow=with_overflow)
        return StockRangeDecoder.decode_block(state, index)[1]

    if overflow is not None:
        return decode(overflow)
    has_overflow = tf.reduce_any(tf.reshape(lookup, [-1]) < 0)
    return tf.cond(has_overflow, lambda: decode(True), lambda: decode(False))
