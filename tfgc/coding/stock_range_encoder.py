"""A range encoder that writes tensorflow-compression's bitstreams, built only from stock TF ops.

The stock SavedModel's `compress` cannot use tfc's custom ops (stock TF Serving cannot load
them), so it encodes with this module. Its strings are byte-identical to tfc 2.14.1's
`create_range_encoder` + `entropy_encode_index` + `entropy_encode_finalize` for the same
lookup and indexes, so files do not depend on which encoder wrote them.

How tfc's encoder (`RangeEncoder::Encode` / `Finalize`) maps onto vectorised ops:

* The coder state is `base` (uint32) and `size` (2**16 < size <= 2**32). A symbol with cdf
  bounds `[lo, hi)` at precision p narrows it to `base += (size lo) >> p`,
  `size = ((size hi) >> p) - ((size lo) >> p)`; when `size <= 2**16`, base (mod 2**32) and
  size shift left by 16 bits and the top 16 bits of base are output. Tables are rescaled
  to precision 16 once (`cdf << (16 - p)`), which leaves every `(size cdf) >> p` unchanged.
  This update is the same in both of tfc's states, so the loop over symbol positions (all
  streams in lockstep) carries only `(base, size)` and records them; everything else is
  recomputed from the recorded states afterwards, vectorised over all steps.
* Output: tfc delays a word while the interval straddles 2**32 ("state 1") and later writes
  either `top` followed by 0xFFFF words or `top + 1` followed by 0x0000 words. That is a
  carry: we emit the provisional words (`top`, then 0xFFFF per shift) and add the carry of
  the step that resolves the run (base overflowed 2**32) afterwards.
* `Finalize` writes 0-2 bytes (a short number inside the final interval); in state 1 it
  writes `top + 1` without its trailing zero words (the decoder reads zeros past the end).

Symbols of zero frequency and tfc's overflow tables (negative precision) are rejected: tfc
does not check the former (its result is unspecified), and the file format uses neither.
"""

from __future__ import annotations

import tensorflow as tf

from tfgc.coding.stock_range_decoder import lookup_to_matrix

__all__ = ["encode_index_all"]

_MASK32 = 0xFFFFFFFF
_TOP = 1 << 16  # the rescaled cdf's total
# Byte values as one-character strings, to turn a byte matrix into strings.
_BYTES = [bytes([b]) for b in range(256)]


def _refine(base: tf.Tensor, size: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor):
    """tfc's interval update for rescaled bounds: (unshifted base, base+a, new size, shift)."""
    a = tf.bitwise.right_shift(size * lo, 16)
    new_size = tf.bitwise.right_shift(size * hi, 16) - a
    shift = tf.where(new_size <= _TOP, tf.constant(16, tf.int64), tf.constant(0, tf.int64))
    return base + a, new_size, shift


def encode_index_all(index: tf.Tensor, values: tf.Tensor, lookup: tf.Tensor,
                     lengths: tf.Tensor | None = None) -> tf.Tensor:
    """Strings [n]: stream i encodes `values[i, :lengths[i]]` with tables `index[i, j]`.

    index, values: int32 [n, m] (tfc's `entropy_encode_index(handle, index, values)` for a
    handle of shape [n]); lookup: tfc's int32 lookup (2-D padded or 1-D). lengths: optional
    int32 [n] symbols per stream (default all m), as if each stream were encoded on its own.
    Out-of-range indexes or values are InvalidArgumentErrors, as in tfc.
    """
    index = tf.convert_to_tensor(index, tf.int32)
    values = tf.convert_to_tensor(values, tf.int32)
    table = lookup_to_matrix(lookup)
    precision = table[:, 0]
    width = tf.shape(table, out_type=tf.int64)[1] - 1
    cdf16 = tf.bitwise.left_shift(table[:, 1:], (16 - tf.abs(precision))[:, None])
    num_symbols = tf.reduce_sum(tf.cast(cdf16 < _TOP, tf.int32), axis=1)  # tfc's row ends
    index64 = tf.cast(index, tf.int64)
    checks = [
        tf.debugging.assert_positive(
            precision, message="overflow tables (negative precision) are not supported"),
        tf.debugging.assert_equal(tf.shape(index), tf.shape(values),
                                  message="index and values must have the same shape"),
        tf.debugging.assert_non_negative(index, message="index out of range"),
        tf.debugging.assert_less(index, tf.shape(table, out_type=tf.int32)[0],
                                 message="index out of range"),
    ]
    with tf.control_dependencies(checks):
        num_symbols = tf.gather(num_symbols, index)
    checks = [
        tf.debugging.assert_non_negative(values, message="value out of range"),
        tf.debugging.assert_less(values, num_symbols, message="value out of range"),
    ]
    with tf.control_dependencies(checks):
        flat = index64 * width + tf.cast(values, tf.int64)
    cdf_flat = tf.reshape(cdf16, [-1])
    # Time-major bounds [m, n]; positions past a stream's length get [0, 2**16), which
    # leaves base and size exactly unchanged (an exact no-op for the coder).
    lo = tf.transpose(tf.gather(cdf_flat, flat))
    hi = tf.transpose(tf.gather(cdf_flat, flat + 1))
    with tf.control_dependencies([tf.debugging.assert_less(
            lo, hi, message="a symbol of zero frequency cannot be encoded")]):
        lo = tf.identity(lo)
    if lengths is not None:
        steps = tf.range(tf.shape(lo)[0])[:, None]
        inside = steps < tf.cast(tf.reshape(lengths, [1, -1]), tf.int32)
        lo = tf.where(inside, lo, tf.constant(0, tf.int64))
        hi = tf.where(inside, hi, tf.constant(_TOP, tf.int64))
    return _encode(lo, hi)


def _encode(lo: tf.Tensor, hi: tf.Tensor) -> tf.Tensor:
    """The strings of n streams from their rescaled bounds lo, hi (int64 [m, n])."""
    m = tf.shape(lo)[0]
    n = tf.shape(lo)[1]
    lo_steps = tf.TensorArray(tf.int64, size=m, element_shape=[None]).unstack(lo)
    hi_steps = tf.TensorArray(tf.int64, size=m, element_shape=[None]).unstack(hi)

    def body(step, base, size, bases, sizes):
        bases, sizes = bases.write(step, base), sizes.write(step, size)
        base, size, shift = _refine(base, size, lo_steps.read(step), hi_steps.read(step))
        base = tf.bitwise.bitwise_and(tf.bitwise.left_shift(base, shift), _MASK32)
        return step + 1, base, tf.bitwise.left_shift(size, shift), bases, sizes

    # m + 1 slots: the state before every step, then the final one (this also keeps the
    # stack non-empty when m is 0 and n unknown).
    bases = tf.TensorArray(tf.int64, size=m + 1, element_shape=[None])
    sizes = tf.TensorArray(tf.int64, size=m + 1, element_shape=[None])
    _, base, size, bases, sizes = tf.while_loop(
        lambda step, *_: step < m, body,
        (tf.constant(0), tf.zeros([n], tf.int64), tf.fill([n], tf.constant(1 << 32, tf.int64)),
         bases, sizes))
    bases = bases.write(m, base).stack()  # [m + 1, n]
    sizes = sizes.write(m, size).stack()
    # State 1 (a delayed word pending): the interval straddles 2**32.
    pending = bases + sizes - 1 > _MASK32  # [m + 1, n]

    # Everything the loop did, again for all steps at once.
    base, size, shift = _refine(bases[:-1], sizes[:-1], lo, hi)
    overflow = base > _MASK32  # the carry into a pending run
    base = tf.bitwise.bitwise_and(base, _MASK32)
    straddles = base + size - 1 > _MASK32  # still state 1 after refining
    emit = shift > 0  # one 16-bit word per shift
    word = tf.where(straddles, tf.constant(0xFFFF, tf.int64), tf.bitwise.right_shift(base, 16))
    in_run = tf.logical_and(emit, pending[1:])  # a provisional word of a pending run
    # A run ends when a step leaves state 1; finalize ends the last one, with a carry.
    resolves = tf.concat([tf.logical_and(pending[:-1], tf.logical_not(straddles)),
                          pending[-1:]], 0)  # [m + 1, n]
    carries = tf.concat([overflow, tf.ones([1, n], tf.bool)], 0)
    # Runs are numbered by the resolutions before them: a word of run r gets the carry of
    # resolution r + 1 (1-based), looked up in a [n, m + 2] table.
    run = tf.cumsum(tf.cast(resolves, tf.int64), axis=0)  # [m + 1, n], inclusive
    slots = tf.cast(m + 2, tf.int64)
    stream = tf.range(tf.cast(n, tf.int64))[None, :]
    carry_table = tf.math.unsorted_segment_max(
        tf.cast(tf.logical_and(resolves, carries), tf.int64),
        stream * slots + tf.where(resolves, run, 0), tf.cast(n, tf.int64) * slots)
    carry = tf.gather(carry_table, stream * slots + run[:-1] + 1)
    word = tf.where(in_run, tf.bitwise.bitwise_and(word + carry, 0xFFFF), word)

    # Compact the emitted words of each stream: [n, max words + 1], one spare for the tail.
    emit64 = tf.cast(emit, tf.int64)
    position = tf.cumsum(emit64, axis=0, exclusive=True)
    num_words = tf.reduce_sum(emit64, axis=0)  # [n]
    emitted = tf.where(emit)  # [k, 2]: (step, stream), in step order
    columns = tf.reduce_max(tf.concat([num_words, [0]], 0)) + 1
    words = tf.scatter_nd(
        tf.stack([emitted[:, 1], tf.gather_nd(position, emitted)], 1),
        tf.gather_nd(word, emitted),
        tf.stack([tf.cast(n, tf.int64), columns]))

    # Finalize. State 0: a short number in [base, base + size): none if base is 0, else the
    # top byte of base rounded up to 2**24 if that fits, else the top two of 2**16.
    base, size = bases[-1], sizes[-1]
    mid24 = tf.bitwise.right_shift(base - 1, 24) + 1
    fits24 = mid24 <= tf.bitwise.right_shift(base + size - 1, 24)
    mid16 = tf.bitwise.bitwise_and(tf.bitwise.right_shift(base - 1, 16) + 1, 0xFFFF)
    tail = tf.where(fits24, tf.bitwise.left_shift(mid24, 8), mid16)
    tail_bytes = tf.where(tf.equal(base, 0), tf.constant(0, tf.int64),
                          tf.where(fits24, tf.constant(1, tf.int64),
                                   1 + tf.cast(tf.bitwise.bitwise_and(mid16, 0xFF) > 0,
                                               tf.int64)))
    # State 1: the run's first word (now carried) is the last one written, its low byte
    # only if not zero; the run's 0x0000 words are dropped.
    open_words = tf.reduce_sum(tf.cast(tf.logical_and(
        in_run, tf.equal(run[:-1], run[-1:] - 1)), tf.int64), axis=0)
    first = num_words - open_words
    first_word = tf.gather(words, first, batch_dims=1)
    open_length = 2 * first + 1 + tf.cast(tf.bitwise.bitwise_and(first_word, 0xFF) > 0,
                                          tf.int64)
    still_open = pending[-1]
    words = tf.tensor_scatter_nd_update(
        words, tf.stack([stream[0], num_words], 1), tf.where(still_open, 0 * tail, tail))
    length = tf.where(still_open, open_length, 2 * num_words + tail_bytes)

    byte_matrix = tf.reshape(tf.stack([tf.bitwise.right_shift(words, 8),
                                       tf.bitwise.bitwise_and(words, 0xFF)], 2), [n, -1])
    strings = tf.strings.reduce_join(tf.gather(tf.constant(_BYTES), byte_matrix), axis=1)
    return tf.strings.substr(strings, tf.zeros_like(length), length)
