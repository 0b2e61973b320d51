"""Bytes and bit fields as TF tensors: what `struct` and bit packing are in Python.

Integers travel as int64 tensors holding byte values 0..255, so every field is built and read
with plain integer arithmetic (no endianness-dependent bitcasts). There is no op that turns a
uint8 tensor into a string, so `to_string` gathers from a table of the 256 one-byte strings.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

_BYTE_STRINGS = [bytes([i]) for i in range(256)]
MAX_FIELD_BITS = 32


def to_string(values: tf.Tensor) -> tf.Tensor:
    """A scalar tf.string whose bytes are `values` (integers 0..255, any shape, row-major)."""
    table = tf.constant(_BYTE_STRINGS)
    return tf.strings.reduce_join(tf.gather(table, tf.cast(tf.reshape(values, [-1]), tf.int32)))


def format_message(template: str, *values) -> tf.Tensor:
    """`template.format(*values)` in a graph (scalar tf.string): each "{}" takes a value, a
    string tensor as it is, an integer in decimal (tf.strings.format would quote strings)."""
    pieces = template.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{len(values)} values for {len(pieces) - 1} fields in {template!r}")
    parts = [pieces[0]]
    for value, piece in zip(values, pieces[1:]):
        value = tf.convert_to_tensor(value)
        if value.dtype != tf.string:
            value = tf.strings.as_string(tf.cast(value, tf.int64))
        parts += [value, piece]
    return tf.strings.join(parts)


def byte_rule(rule: Callable[[int], int], byte: tf.Tensor) -> tf.Tensor:
    """rule(byte) for a tensor of byte values 0..255, in their dtype: a Python rule (e.g. one
    of `format`'s header-byte rules) as a 256-entry table and a gather (no bit ops)."""
    return tf.gather(tf.constant([int(rule(b)) for b in range(256)], byte.dtype), byte)


def from_string(data: tf.Tensor) -> tf.Tensor:
    """The bytes of a scalar tf.string as int64 [n] (n may be 0)."""
    return tf.cast(tf.reshape(tf.io.decode_raw(data, tf.uint8), [-1]), tf.int64)


def le_bytes(value: tf.Tensor, size: int) -> tf.Tensor:
    """Little-endian bytes of an integer scalar: int64 [size]."""
    value = tf.cast(value, tf.int64)
    shifts = tf.constant([8 * i for i in range(size)], tf.int64)
    return tf.bitwise.bitwise_and(tf.bitwise.right_shift(value, shifts), 0xFF)


def read_le(data: tf.Tensor, offset, size: int) -> tf.Tensor:
    """Little-endian unsigned integer of `size` bytes at `offset` in int64 bytes `data`."""
    part = data[offset:offset + size]
    shifts = tf.constant([8 * i for i in range(size)], tf.int64)
    return tf.reduce_sum(tf.bitwise.left_shift(part, shifts))


def bit_length(values: tf.Tensor, max_bits: int = MAX_FIELD_BITS + 1) -> tf.Tensor:
    """Python's int.bit_length for non-negative int64 values below 2**max_bits."""
    powers = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.range(max_bits, dtype=tf.int64))
    return tf.reduce_sum(tf.cast(values[..., None] >= powers, tf.int64), axis=-1)


def pack_bits(values: tf.Tensor, widths: tf.Tensor) -> tf.Tensor:
    """Concatenate each value's `width` low bits, MSB first, zero-padded to bytes: int64 [m]."""
    values = tf.reshape(tf.cast(values, tf.int64), [-1])
    widths = tf.reshape(tf.cast(widths, tf.int64), [-1])
    j = tf.range(MAX_FIELD_BITS, dtype=tf.int64)
    used = j[None, :] < widths[:, None]
    shift = tf.maximum(widths[:, None] - 1 - j[None, :], 0)
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(values[:, None], shift), 1)
    bits = tf.boolean_mask(bits, used)
    total = tf.size(bits, out_type=tf.int64)
    bits = tf.concat([bits, tf.zeros([(-total) % 8], tf.int64)], axis=0)
    weights = tf.constant([128, 64, 32, 16, 8, 4, 2, 1], tf.int64)
    return tf.reduce_sum(tf.reshape(bits, [-1, 8]) * weights, axis=1)


def unpack_bits(data: tf.Tensor) -> tf.Tensor:
    """The bits of int64 bytes, MSB first: int64 [8 * n]."""
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.int64)
    return tf.reshape(tf.bitwise.bitwise_and(tf.bitwise.right_shift(data[:, None], shifts), 1),
                      [-1])


def read_fields(bits: tf.Tensor, offsets: tf.Tensor, widths: tf.Tensor) -> tf.Tensor:
    """Values of MSB-first fields at bit `offsets` with `widths` (<= 32) from a bit vector.

    Reads past the end of `bits` give 0 bits: callers check the total length themselves.
    """
    offsets = tf.cast(offsets, tf.int64)
    widths = tf.cast(widths, tf.int64)
    j = tf.range(MAX_FIELD_BITS, dtype=tf.int64)
    positions = offsets[..., None] + j
    size = tf.size(bits, out_type=tf.int64)
    inside = tf.logical_and(j < widths[..., None], positions < size)
    safe = tf.clip_by_value(positions, 0, tf.maximum(size - 1, 0))
    padded = tf.concat([bits, [0]], axis=0)  # so an empty `bits` can still be gathered
    got = tf.where(inside, tf.gather(padded, safe), tf.zeros_like(safe))
    shift = tf.maximum(widths[..., None] - 1 - j, 0)
    return tf.reduce_sum(tf.bitwise.left_shift(got, shift), axis=-1)
