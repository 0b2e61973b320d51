"""`.tfgc` bytes -> symbols in TFLite built-in ops only, so that a phone can decode a file.

`decoder.py` reads a file as a `tf.string` and stops at a failed check with an assert; TFLite's
built-in ops have no strings, no asserts and no int64 shifts or bitwise ops. This module reads
the same format (docs/bitstream.md; every format fact is imported from `format`, `contexts`,
`tables` and `crc32`) from a uint8 tensor and decodes the same symbols, bit for bit, as
`stock_range_decoder` and tfc. Instead of raising, it returns the first failed check as an
error code: 0 for a valid file, else 1 + the check's position in `format.CHECKS`, so a code
names the same check, and `error_from_code` the same tfgc error class, as the Python API and
the SavedModels give for that file.

How the arithmetic fits the built-ins (int64 Mul/Add/Sub/FloorMod/compare, int32 RightShift/
BitwiseXor/FloorDiv/FloorMod, Gather, Cast):

* Header bytes are read by `format`'s byte rules, each a 256-entry table and a gather
  (`bitops.byte_rule`); bit fields are read bit by bit (`(byte >> k) mod 2`, int32).
* tfc's uint32 coder state is kept in int64 as `offset = value - base` and `size` (<= 2**32),
  as in `stock_range_decoder`. Its interval bounds `(size * cdf) >> 16` (up to 2**48) are
  split on 16-bit halves of `size`: `hi * cdf + ((lo * cdf) >> 16)`. Every `>> 16` left is of
  a multiple of 2**16 (after FloorMod) whose quotient is below 2**24, so a float32 multiply
  by 2**-16 is exact.
* The loops over symbol positions carry fixed-size tensors (no TensorLists): an inner loop
  decodes a block of `_BLOCK_STEPS` positions into a small buffer (`tensor_scatter_nd_update`)
  holding the C + 1 positions before the block, from which each step gathers its context
  neighbours; an outer loop writes each full block into the output [steps, rows].

The decoder is specialised at trace time to one GC model (C, L, stride, fingerprints, model
tables). SC files are not read (their label map is a PNG, which no built-in op decodes: the
check `selective` refuses them). The check `payload` (each stream is exactly the encoder's
output for its symbols) is made from the decoder's final state, without re-encoding
(`_is_exact_encoding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.coding.bitops import byte_rule
from tfgc.coding.contexts import (
    anchors_np,
    possible_contexts_np,
    step_context,
    structure_uses,
    symbol_order_np,
)
from tfgc.coding.crc32 import BYTE_TABLE
from tfgc.coding.format import (
    CHECKS,
    COLOUR_OFFSET_BYTES,
    CRC_BYTES,
    FINGERPRINT_BYTES,
    FIXED_HEADER_BYTES,
    FLAG_SELECTIVE,
    FORMAT_VERSION,
    KNOWN_FLAGS,
    KNOWN_SECTION_TYPES,
    MAGIC,
    MAX_CENTERS,
    MAX_CHANNELS,
    MAX_LATENT_ELEMENTS,
    MAX_LENGTH_BITS,
    MAX_PRECISION,
    MAX_ROW_SYMBOLS,
    MAX_STREAM_CELLS,
    MAX_TABLE_ENTRIES,
    MIN_CENTERS,
    MIN_FILE_BYTES,
    MODEL_TABLE_PRECISION,
    SC_SECTION_TYPES,
    SECTION_COLOUR_OFFSET,
    SECTION_HEADER,
    STRUCTURES,
    UNIFORM_PRECISION,
    TfgcError,
    colour_offset_value,
    entropy_model_byte_valid,
    num_contexts,
    precision_byte_valid,
    reader_error,
    unpack_entropy_model_byte,
    unpack_precision_byte,
)
from tfgc.coding.tables import CLASS_BITS, model_tables_structure, uniform_freqs_np

# Error codes: 0 = a valid file, k = the check CHECK_NAMES[k - 1] failed.
OK = 0
CHECK_NAMES = tuple(CHECKS)
# Reads at fixed offsets go through this much zero padding (as in decoder.py).
_GUARD = 64
_TOP = 1 << 16  # the rescaled cdf's total
_LARGE = 1 << 40  # above every interval bound (those are <= 2**32)
_FIELD_BITS = MAX_PRECISION + 1  # table frequencies are <= 2**16: at most 17 bits
# Decoded positions go into a buffer of this many steps, which joins the output once full: a
# loop writing each step into the whole output copies it every step (time quadratic in the
# latent's width; 90% of a 3 MP decode).
_BLOCK_STEPS = 64


def error_code(check: str) -> int:
    """The code the decoder returns when `check` (a name in `format.CHECKS`) fails."""
    return CHECK_NAMES.index(check) + 1


def error_from_code(code: int) -> TfgcError | None:
    """The tfgc error a decoder's error code stands for (the API's class for that check);
    None for OK."""
    code = int(code)
    if code == OK:
        return None
    if not 1 <= code <= len(CHECK_NAMES):
        raise ValueError(f"unknown decoder error code {code}")
    check = CHECK_NAMES[code - 1]
    return reader_error(check, f"check {check!r} failed (decoder error code {code}); "
                        "`python -m tfgc info` on this file says more")


@dataclass(frozen=True)
class DecodingModel:
    """What a decoder checks a file against and decodes it with: the model's facts."""

    num_centers: int
    num_channels: int
    stride: int
    fingerprint: bytes  # F
    decoder_fingerprint: bytes | None  # D (None: every file must carry F)
    model_tables: np.ndarray | None  # int32 [K, L] at precision 16, or None


class _FirstFailure:
    """The first failed check in program order (the order of `format.CHECKS`)."""

    def __init__(self) -> None:
        self.code = tf.constant(OK, tf.int32)

    def check(self, condition: tf.Tensor, check: str) -> None:
        failed = tf.logical_and(tf.equal(self.code, OK), tf.logical_not(condition))
        self.code = tf.where(failed, tf.constant(error_code(check), tf.int32), self.code)

    @property
    def ok(self) -> tf.Tensor:
        return tf.equal(self.code, OK)


def _pow2(dtype) -> tf.Tensor:
    return tf.constant(np.array([1 << k for k in range(33)], np.int64), dtype)


def _shift(x: tf.Tensor, bits: int) -> tf.Tensor:
    """x >> bits for int64 0 <= x < 2**(bits + 24) (exact in float32 after the FloorMod)."""
    x = x - tf.math.floormod(x, 1 << bits)
    return tf.cast(tf.cast(x, tf.float32) * (1.0 / (1 << bits)), tf.int64)


class _Bytes:
    """The file as int32 bytes with a zero guard, read at clipped positions."""

    def __init__(self, data: tf.Tensor) -> None:
        self.raw = tf.cast(tf.reshape(data, [-1]), tf.int32)
        self.n = tf.size(self.raw)
        self.buf = tf.concat([self.raw, tf.zeros([_GUARD], tf.int32)], 0)

    def at(self, pos) -> tf.Tensor:
        return tf.gather(self.buf, tf.clip_by_value(pos, 0, self.n + _GUARD - 1))

    def le(self, offset, size: int) -> tf.Tensor:
        """Little-endian unsigned integer of `size` bytes at `offset`: int64."""
        parts = tf.cast(self.at(offset + tf.range(size)), tf.int64)
        return tf.reduce_sum(parts * _pow2(tf.int64)[0:8 * size:8])

    def bits(self, bit_start, offsets: tf.Tensor, widths: tf.Tensor, max_width: int
             ) -> tf.Tensor:
        """Values (int64) of MSB-first fields at `bit_start + offsets` with `widths` (int32,
        <= max_width); positions past the guard read as zeros or clipped bytes: callers check
        the region's length themselves."""
        j = tf.range(max_width)
        pos = bit_start + offsets[..., None] + j
        pos = tf.maximum(pos, 0)
        byte = self.at(pos // 8)
        bit = tf.math.floormod(tf.bitwise.right_shift(byte, 7 - tf.math.floormod(pos, 8)), 2)
        inside = j < widths[..., None]
        weight = tf.gather(_pow2(tf.int64), tf.maximum(widths[..., None] - 1 - j, 0))
        return tf.reduce_sum(tf.where(inside, tf.cast(bit, tf.int64) * weight,
                                      tf.constant(0, tf.int64)), axis=-1)


def _crc_matches(data: _Bytes, end: tf.Tensor) -> tf.Tensor:
    """zlib.crc32 of the first `end` bytes equals the little-endian word after them.

    Byte at a time in int32 (uint32 bits; logical shifts as arithmetic shift + FloorMod)."""
    table = tf.constant(BYTE_TABLE.astype(np.uint32).view(np.int32))

    def body(i, state):
        index = tf.math.floormod(tf.bitwise.bitwise_xor(state, data.at(i)), 256)
        shifted = tf.math.floormod(tf.bitwise.right_shift(state, 8), 1 << 24)
        return i + 1, tf.bitwise.bitwise_xor(tf.gather(table, index), shifted)

    _, state = tf.while_loop(lambda i, _: i < end, body,
                             (tf.constant(0), tf.constant(-1, tf.int32)))
    crc = tf.bitwise.bitwise_xor(state, tf.constant(-1, tf.int32))
    crc_bytes = tf.math.floormod(tf.bitwise.right_shift(crc, tf.constant([0, 8, 16, 24])), 256)
    return tf.reduce_all(tf.equal(crc_bytes, data.at(end + tf.range(CRC_BYTES))))


class _StructureTables:
    """Per-structure constants of the table section for the model's C and L (numpy, from
    `contexts`), padded to the largest structure's context count and stacked [5, ...]."""

    def __init__(self, channels: int, centers: int) -> None:
        sizes = [num_contexts(channels, centers, s) for s in sorted(STRUCTURES)]
        self.max_contexts = k_max = max(sizes)
        possible = np.zeros([len(sizes), 2, k_max], bool)
        inverse = np.zeros([len(sizes), k_max, centers], np.int32)
        for s, k in enumerate(sizes):
            for wide in (0, 1):
                possible[s, wide, :k] = possible_contexts_np(channels, centers, s, 1 + wide)
            order = symbol_order_np(anchors_np(channels, centers, s), centers)
            inverse[s, :k] = np.argsort(order, axis=1, kind="stable")
        self.possible = tf.constant(possible)
        self.inverse = tf.constant(inverse)


def _read_file_tables(data: _Bytes, start: tf.Tensor, size: tf.Tensor, structure: tf.Tensor,
                      wide: tf.Tensor, base: tf.Tensor, step: tf.Tensor,
                      constants: _StructureTables, centers: int
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """A table section (bytes [start, start + size)) -> (frequencies int32 [K_max, L],
    precisions int32 [K_max], ok): `tables.read_table_section` for built-in ops."""
    possible = tf.gather(tf.gather(constants.possible, structure), tf.cast(wide, tf.int32))
    possible32 = tf.cast(possible, tf.int32)
    rank = tf.math.cumsum(possible32, exclusive=True)
    bit_start = 8 * start
    classes = tf.cast(data.bits(bit_start, CLASS_BITS * rank, CLASS_BITS * possible32,
                                CLASS_BITS), tf.int32)
    options = tf.stack([tf.constant(UNIFORM_PRECISION, tf.int32), base, base + step,
                        base + 2 * step])
    precision = tf.gather(options, classes)
    present = classes > 0
    powers = _pow2(tf.int32)[:_FIELD_BITS + 1]
    remaining = tf.gather(powers, precision)
    pos = CLASS_BITS * tf.reduce_sum(possible32)
    ok = tf.constant(True)
    written = []
    for _ in range(centers - 1):  # L is static: one unrolled pass per written symbol
        bit_length = tf.reduce_sum(tf.cast(remaining[:, None] >= powers[None, :_FIELD_BITS],
                                           tf.int32), axis=1)
        widths = tf.where(present, bit_length, 0)
        values = tf.cast(data.bits(bit_start, pos + tf.math.cumsum(widths, exclusive=True),
                                   widths, _FIELD_BITS), tf.int32)
        ok = tf.logical_and(ok, tf.reduce_all(values <= remaining))
        values = tf.minimum(values, remaining)
        written.append(values)
        remaining = remaining - values
        pos = pos + tf.reduce_sum(widths)
    written.append(remaining)
    written = tf.reshape(tf.stack(written, axis=1), [-1])  # [K_max * L], writing order
    inverse = tf.gather(constants.inverse, structure)
    rows = tf.range(constants.max_contexts)[:, None] * centers
    freqs = tf.gather(written, rows + inverse)
    uniform = tf.constant(uniform_freqs_np(centers).astype(np.int32))
    freqs = tf.where(present[:, None], freqs, uniform[None])
    total_bits = 8 * size
    ok = tf.logical_and(ok, pos <= total_bits)
    ok = tf.logical_and(ok, tf.equal((pos + 7) // 8, size))
    padding = tf.clip_by_value(total_bits - pos, 0, 7)
    ok = tf.logical_and(ok, tf.equal(data.bits(bit_start, pos[None], padding[None], 7)[0], 0))
    return freqs, precision, ok


def _cdf16(freqs: tf.Tensor, precision: tf.Tensor) -> tf.Tensor:
    """cdf[1:] of every table rescaled to precision 16 (int64 [K, L]), as the stock decoder's
    `cdf16`: this leaves every interval bound unchanged."""
    scale = tf.gather(_pow2(tf.int64), 16 - precision)
    return tf.math.cumsum(tf.cast(freqs, tf.int64), axis=1) * scale[:, None]


def _decode_rows(data: _Bytes, starts: tf.Tensor, ends: tf.Tensor, cdf16: tf.Tensor,
                 uses: tf.Tensor, rows: tf.Tensor, steps: tf.Tensor, channels: int,
                 centers: int) -> tuple[tf.Tensor, tf.Tensor]:
    """int32 [steps, rows]: position k of every row's stream, all rows in lockstep; tfc's
    range decoder (`stock_range_decoder._decode_step`) in built-in ops, `_BLOCK_STEPS` steps
    at a time. Also whether each stream is exactly the encoding of what it decodes to (bool
    [rows], `_is_exact_encoding`).
    """

    def byte(pos, end):
        return tf.cast(tf.where(pos < end, data.at(pos), 0), tf.int64)

    def word(pos):  # big-endian 16-bit words, zeros past the end of a stream
        return byte(pos, ends) * 256 + byte(pos + 1, ends)

    offset = word(starts) * _TOP + word(starts + 2)
    size = tf.fill(tf.stack([rows]), tf.constant(1 << 32, tf.int64))
    none = tf.constant(centers, tf.int32)
    zero, large = tf.constant(0, tf.int64), tf.constant(_LARGE, tf.int64)
    history = channels + 1  # the farthest context neighbour is position k - C - 1
    # `recent`: the block's positions after the `history` ones before it.
    recent = tf.zeros(tf.stack([history + _BLOCK_STEPS, rows]), tf.int32)
    blocks = (steps + _BLOCK_STEPS - 1) // _BLOCK_STEPS
    out = tf.zeros(tf.stack([blocks * _BLOCK_STEPS, rows]), tf.int32)

    def step(k, offset, size, base, position, recent):
        at = history + tf.math.floormod(k, _BLOCK_STEPS)  # position k in `recent`

        def neighbour(back, known):  # position k - back of every row, "none" if not `known`
            return tf.where(known, tf.gather(recent, at - back), none)

        channel = tf.math.floormod(k, channels)
        left = neighbour(channels, k >= channels)
        prev = neighbour(1, channel > 0)
        diag = neighbour(channels + 1, tf.logical_and(channel > 0, k >= channels))
        index = step_context(channel, left, prev, diag, none, uses)
        cdf = tf.gather(cdf16, index)  # [rows, L]
        size_lo = tf.math.floormod(size, _TOP)
        bounds = _shift(size, 16)[:, None] * cdf + _shift(size_lo[:, None] * cdf, 16)
        below = bounds <= offset[:, None]
        symbols = tf.reduce_sum(tf.cast(below, tf.int32), axis=1)
        low = tf.reduce_max(tf.where(below, bounds, zero), axis=1)
        high = tf.reduce_min(tf.where(below, large, bounds), axis=1)
        new_size = high - low
        renorm = new_size <= _TOP
        offset = tf.where(renorm, (offset - low) * _TOP + word(position), offset - low)
        size = tf.where(renorm, new_size * _TOP, new_size)
        base = base + low  # tfc's uint32 base, for the end check
        base = tf.where(renorm, tf.math.floormod(base, _TOP) * _TOP,
                        tf.math.floormod(base, 1 << 32))
        position = position + 2 * tf.cast(renorm, tf.int32)
        recent = tf.tensor_scatter_nd_update(recent, tf.reshape(at, [1, 1]), symbols[None])
        return k + 1, offset, size, base, position, recent

    def block(k, offset, size, base, position, recent, out):
        end = tf.minimum(k + _BLOCK_STEPS, steps)
        k_end, offset, size, base, position, recent = tf.while_loop(
            lambda i, *_: i < end, step, (k, offset, size, base, position, recent))
        out = tf.tensor_scatter_nd_update(out, tf.reshape(k + tf.range(_BLOCK_STEPS), [-1, 1]),
                                          recent[history:])
        recent = tf.concat([recent[_BLOCK_STEPS:], tf.zeros_like(recent[history:])], 0)
        return k_end, offset, size, base, position, recent, out

    _, offset, size, base, position, _, out = tf.while_loop(
        lambda k, *_: k < steps, block,
        (tf.constant(0), offset, size, tf.zeros_like(size), starts + 4, recent, out))
    out = out[:steps]
    last_byte = data.at(ends - 1)
    return out, _is_exact_encoding(offset, size, base, position - starts - 4, ends - starts,
                                   last_byte)


def _is_exact_encoding(offset, size, base, word_bytes, length, last_byte) -> tf.Tensor:
    """The check `payload` without a range encoder: is each stream byte for byte what tfc's
    deterministic encoder writes for the symbols it decoded to? (bool [rows])

    Reading a stream X keeps `V - B = offset` exactly, where V is the number X's first
    `word_bytes + 4` bytes spell (zeros past its end) and B the encoder's base with its
    carries, so X and the encoder's output E both lie in [B, B + size), size <= 2**32: their
    numbers are equal iff they agree mod 2**32, i.e. in the decoder's last 32-bit window. E
    ends inside that window (it is at most `word_bytes + 2` long), so X == E iff the window
    values and the lengths agree. E's tail (tfc's `Finalize`, as `stock_range_encoder`):
    with the interval inside [0, 2**32), the top byte of a number in it rounded up (1 byte),
    else the top two (2 bytes, 1 if the low one is 0), none when base is 0; with the interval
    straddling 2**32 (a delayed word pending), the carried word, ending in a nonzero byte,
    and nothing in the window.
    """
    value = tf.math.floormod(base + offset, 1 << 32)
    upper = base + size - 1
    below = tf.maximum(base - 1, 0)
    mid24 = _shift(below, 24) + 1
    fits24 = mid24 <= _shift(tf.minimum(upper, (1 << 32) - 1), 24)
    mid16 = tf.math.floormod(_shift(below, 16) + 1, _TOP)
    zero = tf.equal(base, 0)
    tail = tf.where(zero, tf.constant(0, tf.int64),
                    tf.where(fits24, mid24 * (1 << 24), mid16 * _TOP))
    tail_bytes = tf.where(zero, 0, tf.where(fits24, 1, 1 + tf.cast(
        tf.math.floormod(mid16, 256) > 0, tf.int32)))
    settled = tf.logical_and(tf.equal(value, tail), tf.equal(length, word_bytes + tail_bytes))
    pending = tf.logical_and(tf.equal(value, 0), tf.logical_and(
        length <= word_bytes, tf.logical_and(length >= 1, last_byte > 0)))
    return tf.where(upper > (1 << 32) - 1, pending, settled)


def decode_file(data: tf.Tensor, model: DecodingModel, max_pixels: tf.Tensor
                ) -> dict[str, tf.Tensor]:
    """A `.tfgc` file (uint8 [n]) -> `symbols` int32 [h, w, C], `image_size` int32 [2] (H, W),
    `noise_seed` int64, `colour_offset` int32 [3] (R, G, B levels; zeros without the section)
    and `error` int32 (OK, or the first failed check's code). On an error
    the symbols are [1, 1, C] zeros and the image size [0, 0]; nothing is allocated in
    proportion to a claim that failed its check.

    max_pixels: int64 scalar, the largest image H * W to decode (the check `pixels`).
    """
    C, L = model.num_channels, model.num_centers
    data = _Bytes(data)
    n = data.n
    fail = _FirstFailure()

    # Stage 1: is this an intact file of a version we read? (decoder.py's order)
    fail.check(n > 0, "empty")
    fail.check(tf.reduce_all(tf.logical_or(
        tf.equal(data.at(tf.range(4)), tf.constant(list(MAGIC), tf.int32)), tf.range(4) >= n)),
        "magic")
    fail.check(n >= 5, "truncated")
    version = data.at(4)
    fail.check(version <= FORMAT_VERSION, "version")
    fail.check(version >= 1, "version_zero")
    fail.check(n >= MIN_FILE_BYTES, "truncated")
    end = tf.maximum(n - CRC_BYTES, 0)
    fail.check(_crc_matches(data, tf.where(fail.ok, end, 0)), "crc")

    # Stage 2: fixed header fields and limits.
    def u16(offset: int) -> tf.Tensor:
        return data.at(offset) + 256 * data.at(offset + 1)

    flags = data.at(5)
    image_h, image_w, pad_b, pad_r = u16(22), u16(24), u16(26), u16(28)
    h, w, c = u16(30), u16(32), u16(34)
    centers, model_byte, prec_byte = data.at(36), data.at(37), data.at(38)
    fail.check(tf.equal(byte_rule(lambda b: b & ~KNOWN_FLAGS, flags), 0), "flags")
    fail.check(tf.reduce_all(tf.stack([image_h, image_w, h, w]) >= 1), "sizes")
    fail.check(tf.logical_and(c >= 1, c <= MAX_CHANNELS), "sizes")
    fail.check(tf.logical_and(centers >= MIN_CENTERS, centers <= MAX_CENTERS), "sizes")
    h64, w64, c64 = (tf.cast(v, tf.int64) for v in (h, w, c))
    fail.check(tf.logical_and(h64 * w64 * c64 <= MAX_LATENT_ELEMENTS,
                              w64 * c64 <= MAX_ROW_SYMBOLS), "sizes")
    padded_h, padded_w = image_h + pad_b, image_w + pad_r
    h1, w1 = tf.maximum(h, 1), tf.maximum(w, 1)
    file_stride = padded_h // h1
    fail.check(tf.reduce_all(tf.stack([
        tf.equal(tf.math.floormod(padded_h, h1), 0), tf.equal(tf.math.floormod(padded_w, w1), 0),
        tf.equal(padded_w // w1, file_stride), pad_b < file_stride, pad_r < file_stride])),
        "stride")
    fail.check(tf.equal(file_stride, model.stride), "stride")
    structure = byte_rule(lambda b: min(unpack_entropy_model_byte(b)[0], len(STRUCTURES) - 1),
                          model_byte)
    use_model = tf.equal(byte_rule(lambda b: unpack_entropy_model_byte(b)[1], model_byte), 1)
    fail.check(tf.equal(byte_rule(entropy_model_byte_valid, model_byte), 1), "entropy_model")
    base = byte_rule(lambda b: unpack_precision_byte(b)[0], prec_byte)
    step = byte_rule(lambda b: unpack_precision_byte(b)[1], prec_byte)
    fail.check(tf.equal(tf.where(
        use_model, byte_rule(lambda b: precision_byte_valid(b, True), prec_byte),
        byte_rule(lambda b: precision_byte_valid(b, False), prec_byte)), 1), "precision")
    neighbours = tf.gather(tf.constant([len(STRUCTURES[s]) for s in sorted(STRUCTURES)]),
                           structure)
    centers64 = tf.cast(centers, tf.int64)
    base_l = centers64 + 1
    contexts = c64 * tf.gather(tf.stack([tf.constant(1, tf.int64), base_l, base_l * base_l,
                                         base_l * base_l * base_l]), neighbours)
    fail.check(contexts * (centers64 + 2) <= MAX_TABLE_ENTRIES, "contexts")
    sc_file = tf.equal(byte_rule(lambda b: b & FLAG_SELECTIVE, flags), FLAG_SELECTIVE)
    fail.check(tf.logical_not(sc_file), "selective")  # a GC model's decoder
    file_fp = data.at(6 + tf.range(FINGERPRINT_BYTES))

    def same_fingerprint(fingerprint: bytes) -> tf.Tensor:
        return tf.reduce_all(tf.equal(file_fp, tf.constant(list(fingerprint), tf.int32)))

    accepted = same_fingerprint(model.fingerprint)
    if model.decoder_fingerprint is not None:
        accepted = tf.logical_or(accepted, tf.logical_and(
            tf.logical_not(use_model), same_fingerprint(model.decoder_fingerprint)))
    fail.check(accepted, "fingerprint")
    fail.check(tf.equal(centers, L), "centers")
    fail.check(tf.equal(c, C), "channels")
    fail.check(tf.cast(image_h, tf.int64) * tf.cast(image_w, tf.int64) <= max_pixels, "pixels")
    header_ok = fail.ok
    h = tf.where(header_ok, h, 1)  # from here on, sizes are only trusted once checked
    w = tf.where(header_ok, w, 1)

    # Stage 3: sections (unknown optional ones are skipped; a GC file may carry the colour
    # offset, whose place is recorded), lengths.
    end64 = tf.cast(end, tf.int64)
    known = tf.constant(sorted(KNOWN_SECTION_TYPES), tf.int32)
    selective_kinds = tf.constant(SC_SECTION_TYPES, tf.int32)

    def section_step(i, pos, ok, readable, sc_count, offset):
        kind, section_flags = data.at(pos), data.at(pos + 1)
        length = data.le(pos + 2, 4)
        pos64 = tf.cast(pos, tf.int64)
        ok = tf.logical_and(ok, pos64 + SECTION_HEADER.size <= end64)
        ok = tf.logical_and(ok, section_flags <= 1)
        ok = tf.logical_and(ok, length <= end64 - pos64 - SECTION_HEADER.size)
        is_known = tf.reduce_any(tf.equal(kind, known))
        readable = tf.logical_and(readable, tf.logical_or(tf.equal(section_flags, 0), is_known))
        start = pos + SECTION_HEADER.size
        next_pos = tf.cast(tf.minimum(tf.cast(start, tf.int64) + length, end64), tf.int32)
        sc_count += tf.cast(tf.reduce_any(tf.equal(kind, selective_kinds)), tf.int32)
        # offset: [start, length, count] of the colour-offset section
        offset = tf.where(tf.equal(kind, SECTION_COLOUR_OFFSET), tf.stack(
            [start, tf.cast(tf.minimum(length, 1 << 30), tf.int32), offset[2] + 1]), offset)
        return i + 1, next_pos, ok, readable, sc_count, offset

    section_count = tf.where(header_ok, data.at(FIXED_HEADER_BYTES), 0)
    _, pos, sections_ok, readable, sc_count, offset = tf.while_loop(
        lambda i, pos, ok, readable, *_: tf.logical_and(i < section_count,
                                                        tf.logical_and(ok, readable)),
        section_step,
        (tf.constant(0), tf.constant(FIXED_HEADER_BYTES + 1), tf.constant(True),
         tf.constant(True), tf.constant(0), tf.zeros([3], tf.int32)))
    fail.check(sections_ok, "section")
    fail.check(readable, "required_section")
    fail.check(offset[2] <= 1, "section")  # a repeated section
    # The SC sections in a file without the SC flag: flag and sections disagree.
    fail.check(tf.equal(sc_count, 0), "section")
    fail.check(tf.logical_or(tf.equal(offset[2], 0), tf.equal(offset[1], COLOUR_OFFSET_BYTES)),
               "section")
    colour_offset = tf.where(offset[2] > 0, byte_rule(
        colour_offset_value, data.at(offset[0] + tf.range(COLOUR_OFFSET_BYTES))), 0)
    fail.check(pos < end, "lengths")
    length_bits = data.at(pos)
    fail.check(length_bits <= MAX_LENGTH_BITS, "lengths")
    length_bits = tf.minimum(length_bits, MAX_LENGTH_BITS)
    length_bytes = (h * length_bits + 7) // 8
    lengths_start = pos + 1
    fail.check(lengths_start + length_bytes <= end, "lengths")
    lengths = data.bits(8 * lengths_start, tf.range(h) * length_bits,
                        tf.fill([h], length_bits), MAX_LENGTH_BITS)
    padding = 8 * length_bytes - h * length_bits
    fail.check(tf.equal(data.bits(8 * lengths_start, tf.reshape(h * length_bits, [1]),
                                  tf.reshape(padding, [1]), 7)[0], 0), "lengths")
    longest = tf.reduce_max(lengths)
    fail.check(longest <= 2 * tf.cast(w, tf.int64) * C + 2, "lengths")
    fail.check(tf.cast(h, tf.int64) * longest <= MAX_STREAM_CELLS, "lengths")
    tables_start = lengths_start + length_bytes
    tables_size = end64 - tf.cast(tables_start, tf.int64) - tf.reduce_sum(lengths)
    fail.check(tables_size >= 0, "lengths")
    fail.check(tf.logical_or(tf.logical_not(use_model), tf.equal(tables_size, 0)), "lengths")
    stage_ok = fail.ok
    lengths = tf.where(stage_ok, lengths, 0)
    tables_size = tf.cast(tf.where(stage_ok, tables_size, 0), tf.int32)

    # Stage 4: tables (the file's, or the model's: constants of this decoder).
    constants = _StructureTables(C, L)
    freqs, precision, tables_ok = _read_file_tables(
        data, tables_start, tables_size, structure, w >= 2, base, step, constants, L)
    if model.model_tables is None:
        fits = tf.constant(False)
    else:  # they fit a file of their structure (C and L are checked above)
        fits = tf.equal(structure, model_tables_structure(model.model_tables, L, C))
        model_freqs = np.zeros([constants.max_contexts, L], np.int32)
        model_freqs[:len(model.model_tables)] = model.model_tables
        freqs = tf.where(use_model, tf.constant(model_freqs), freqs)
        precision = tf.where(use_model, MODEL_TABLE_PRECISION, precision)
    fail.check(tf.logical_or(tf.logical_not(use_model), fits), "model_tables")
    fail.check(tf.logical_or(use_model, tables_ok), "tables")
    cdf16 = _cdf16(freqs, precision)

    # Stage 5: range decoding, one stream per latent row, all rows in lockstep.
    ok = fail.ok
    h = tf.where(ok, h, 1)
    w = tf.where(ok, w, 1)
    lengths = tf.cast(tf.where(ok, lengths, 0), tf.int32)[:h]  # one row after an error
    starts = tables_start + tables_size + tf.math.cumsum(lengths, exclusive=True)
    columns, exact = _decode_rows(data, starts, starts + lengths, cdf16,
                                  structure_uses(tf.where(ok, structure, 0)), h, w * C, C, L)
    fail.check(tf.reduce_all(exact), "payload")
    ok = fail.ok
    symbols = tf.reshape(tf.transpose(columns), tf.stack([h, w, C]))
    symbols = tf.where(ok, symbols, 0)[:tf.where(ok, h, 1), :tf.where(ok, w, 1)]
    return {"symbols": symbols,
            "image_size": tf.where(ok, tf.stack([image_h, image_w]), tf.zeros([2], tf.int32)),
            "noise_seed": data.le(39, 4), "colour_offset": colour_offset, "error": fail.code}


__all__ = ["CHECK_NAMES", "OK", "DecodingModel", "decode_file", "error_code", "error_from_code"]
