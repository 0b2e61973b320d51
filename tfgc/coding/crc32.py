"""CRC-32 (zlib's polynomial) of a uint8 tensor, in stock TF ops.

A byte-at-a-time `tf.while_loop` costs one loop step per byte (about 0.2 s for 30 KB), so the
data is cut into 64-byte blocks whose CRCs are computed side by side (16 steps of
slicing-by-4), and the block CRCs are combined by the linearity of the CRC: each one is
advanced past the blocks that follow it (a GF(2) linear map, applied with byte tables, one per
power-of-two distance) and the results are XORed. Leading zero bytes do not change a CRC with
zero initial state, so the data is zero-padded in front to whole blocks; zlib's initial value
0xFFFFFFFF is produced by a 4-byte prefix whose zero-state CRC is 0xFFFFFFFF.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_POLY = 0xEDB88320
_BLOCK = 64  # bytes per block; a multiple of 4
_LEVELS = 32  # block-distance bits covered: far beyond any file


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint64)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _POLY, table >> 1)
    return table


_T0 = _byte_table()
# zlib's byte-at-a-time table (uint32 values in uint64), for decoders that loop over bytes.
BYTE_TABLE = _T0


def _zero_bytes(state: np.ndarray, count: int) -> np.ndarray:
    """States advanced by `count` zero bytes (zero-initial raw CRC update)."""
    for _ in range(count):
        state = _T0[state & 0xFF] ^ (state >> 8)
    return state


def _basis_images(count: int) -> np.ndarray:
    """Images of the 32 unit states after `count` zero bytes: the columns of a linear map."""
    return _zero_bytes(np.uint64(1) << np.arange(32, dtype=np.uint64), count)


def _apply(images: np.ndarray, states: np.ndarray) -> np.ndarray:
    out = np.zeros_like(states)
    for bit in range(32):
        out ^= np.where((states >> np.uint64(bit)) & np.uint64(1), images[bit], np.uint64(0))
    return out


def _byte_tables(images: np.ndarray) -> np.ndarray:
    """[4, 256] tables: the map applied to byte q of a state, for q = 0..3."""
    values = np.arange(256, dtype=np.uint64)
    return np.stack([_apply(images, values << np.uint64(8 * q)) for q in range(4)])


def _build_tables() -> tuple[np.ndarray, np.ndarray, int]:
    # Slicing-by-4 tables: byte q of a 4-byte word followed by 3 - q more bytes.
    slicing = np.stack([_zero_bytes(_T0, q) for q in range(4)])
    shifts = []
    images = _basis_images(_BLOCK)
    for _ in range(_LEVELS):
        shifts.append(_byte_tables(images))
        images = _apply(images, images)  # doubling the distance squares the map
    # Prefix word whose raw CRC is 0xFFFFFFFF: solve M4 x = 0xFFFFFFFF over GF(2).
    m4 = _basis_images(4)
    rows = [(int(m4[col]) >> row) & 1 for row in range(32) for col in range(32)]
    a = np.array(rows, dtype=np.uint8).reshape(32, 32)
    b = np.ones(32, dtype=np.uint8)
    aug = np.concatenate([a, b[:, None]], axis=1)
    for col in range(32):
        pivot = col + int(np.argmax(aug[col:, col]))
        aug[[col, pivot]] = aug[[pivot, col]]
        for row in range(32):
            if row != col and aug[row, col]:
                aug[row] ^= aug[col]
    prefix = int(sum(int(aug[i, 32]) << i for i in range(32)))
    return slicing.astype(np.int64), np.stack(shifts).astype(np.int64), prefix


_SLICING, _SHIFTS, _PREFIX_WORD = _build_tables()
_PREFIX_BYTES = [(_PREFIX_WORD >> (8 * i)) & 0xFF for i in range(4)]


def _table_apply(tables: tf.Tensor, state: tf.Tensor) -> tf.Tensor:
    """Linear map given as [4, 256] byte tables, applied to int64 states."""
    out = tf.gather(tables[0], tf.bitwise.bitwise_and(state, 0xFF))
    for q in range(1, 4):
        byte = tf.bitwise.bitwise_and(tf.bitwise.right_shift(state, 8 * q), 0xFF)
        out = tf.bitwise.bitwise_xor(out, tf.gather(tables[q], byte))
    return out


def crc32(data: tf.Tensor) -> tf.Tensor:
    """zlib.crc32 of a uint8 (or 0..255 integer) vector, as an int64 scalar."""
    data = tf.cast(tf.reshape(data, [-1]), tf.int64)
    data = tf.concat([tf.constant(_PREFIX_BYTES, tf.int64), data], axis=0)
    n = tf.size(data, out_type=tf.int64)
    blocks = (n + _BLOCK - 1) // _BLOCK
    data = tf.concat([tf.zeros([blocks * _BLOCK - n], tf.int64), data], axis=0)
    words = tf.reshape(data, [blocks, _BLOCK // 4, 4])
    words = tf.reduce_sum(
        tf.bitwise.left_shift(words, tf.constant([0, 8, 16, 24], tf.int64)), axis=-1)
    slicing = tf.constant(_SLICING)
    # Slicing-by-4 tables indexed [3 - q] for byte q of the word.
    slicing_by_byte = tf.stack([slicing[3], slicing[2], slicing[1], slicing[0]])

    def block_step(i, state):
        return i + 1, _table_apply(slicing_by_byte, tf.bitwise.bitwise_xor(state, words[:, i]))

    _, states = tf.while_loop(
        lambda i, _: i < _BLOCK // 4, block_step,
        (tf.constant(0), tf.zeros([blocks], tf.int64)))
    # Advance block j past the (blocks - 1 - j) blocks after it, one distance bit per level.
    distance = blocks - 1 - tf.range(blocks, dtype=tf.int64)
    shifts = tf.constant(_SHIFTS)

    def level_step(level, states):
        bit = tf.bitwise.bitwise_and(tf.bitwise.right_shift(distance, level), 1)
        moved = _table_apply(shifts[level], states)
        return level + 1, tf.where(tf.equal(bit, 1), moved, states)

    _, states = tf.while_loop(
        lambda level, _: tf.logical_and(
            level < _LEVELS, tf.bitwise.left_shift(tf.constant(1, tf.int64), level) < blocks),
        level_step, (tf.constant(0, tf.int64), states))
    # XOR-reduce: parity of each bit position.
    positions = tf.range(32, dtype=tf.int64)
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(states[:, None], positions), 1)
    parity = tf.bitwise.bitwise_and(tf.reduce_sum(bits, axis=0), 1)
    raw = tf.reduce_sum(tf.bitwise.left_shift(parity, positions))
    return tf.bitwise.bitwise_xor(raw, 0xFFFFFFFF)


def crc32_bytes_le(data: tf.Tensor) -> tf.Tensor:
    """The CRC of `data` as 4 little-endian bytes (int64 [4])."""
    value = crc32(data)
    return tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(value, tf.constant([0, 8, 16, 24], tf.int64)), 0xFF)
