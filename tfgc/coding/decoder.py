"""`.tfgc` bytes -> symbols, as TF graph code (the exported `decompress` signatures run this).

Parses and validates the container with asserts (a bad file fails with InvalidArgumentError,
never a crash, a hang or a huge allocation: every size is checked against the limits and the
file's length before anything depends on it), builds the lookup from the file's integer
tables (or the model's), and range-decodes all latent rows in lockstep through a backend.
Nothing here imports tensorflow_compression: with backend "stock" the graph is stock-op only.
"""

from __future__ import annotations

import tensorflow as tf

from tfgc.coding import bitops, crc32, tables
from tfgc.coding.backends import RangeDecoderBackend
from tfgc.coding.contexts import runtime_context_index, step_context, structure_uses
from tfgc.coding.encoder import range_encode
from tfgc.coding.format import (
    CANONICAL_STRUCTURE,
    COLOUR_OFFSET_BYTES,
    CRC_BYTES,
    FINGERPRINT_BYTES,
    FIXED_HEADER_BYTES,
    FLAG_SELECTIVE,
    FLAGS_TEMPLATE,
    FORMAT_VERSION,
    GRAPH_PREFIX,
    KNOWN_FLAGS,
    KNOWN_SECTION_TYPES,
    MAGIC,
    MAX_CENTERS,
    MAX_CHANNELS,
    MAX_LATENT_ELEMENTS,
    MAX_LENGTH_BITS,
    MAX_ROW_SYMBOLS,
    MAX_STREAM_CELLS,
    MAX_TABLE_ENTRIES,
    MIN_CENTERS,
    MIN_FILE_BYTES,
    MODEL_TABLE_PRECISION,
    PIXEL_LIMIT_TEMPLATE,
    PNG_HEADER_BYTES,
    PNG_SIGNATURE,
    REQUIRED_SECTION_TEMPLATE,
    SECTION_COLOUR_OFFSET,
    SECTION_HEADER,
    SECTION_LABEL_MAP,
    SECTION_PRESERVE_MASK,
    STRUCTURES,
    colour_offset_value,
    entropy_model_byte_valid,
    precision_byte_valid,
    selective_mismatch_message,
    unpack_entropy_model_byte,
    unpack_precision_byte,
)

_HEX = [f"{i:02x}" for i in range(256)]
# The sections whose place the reader records, in the rows of its `found` [start, length, count].
_FOUND_SECTIONS = (SECTION_PRESERVE_MASK, SECTION_LABEL_MAP, SECTION_COLOUR_OFFSET)
# Reads at fixed offsets go through this much zero padding, so a short file cannot make them
# fail before the length check reports it.
_GUARD = 64


class GraphChecks:
    """Asserts whose failure stops everything computed under `gate`. Each message starts
    with `prefix` and the check's name, which `api.error_from_graph` turns back into the
    check's tfgc error (`format.CHECKS`; `.tfgz` files have their own list and prefix)."""

    def __init__(self, prefix: str = GRAPH_PREFIX) -> None:
        self.prefix = prefix
        self.ops: list[tf.Operation] = []

    def check(self, condition, check: str, message: str, *data) -> None:
        """`check` names the entry of the check list (which error a failure is)."""
        # Each assert waits for the previous ones: the first failing check in program order
        # is the one reported (e.g. "newer version" rather than the CRC it also fails).
        with tf.control_dependencies(self.ops[-1:]):
            self.ops.append(tf.debugging.Assert(
                condition, [f"{self.prefix}{check}: {message}", *data], summarize=64))

    def gate(self, *tensors):
        with tf.control_dependencies(self.ops):
            out = [tf.identity(t) for t in tensors]
        return out[0] if len(out) == 1 else out


def _hex(data: tf.Tensor) -> tf.Tensor:
    return tf.strings.reduce_join(tf.gather(tf.constant(_HEX), data))


def decode_graph(data: tf.Tensor, fingerprint: tf.Tensor, backend: RangeDecoderBackend,
                 model_tables=None, num_centers: int | None = None,
                 num_channels: int | None = None, stride: int | None = None,
                 max_pixels=None, selective: bool | None = None
                 ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Symbols int32 [h, w, C] and the header fields (int64 scalars) of a `.tfgc` file.

    model_tables: int32 [K, L] (array or tensor) from `fit_model_tables`, or None.
    num_centers, num_channels, stride, selective (an SC model or not): the decoding model's
    (None: not checked).
    max_pixels: int64 scalar (tensor or int), the largest image H * W to decode; None: no limit.
    """
    data = tf.reshape(tf.convert_to_tensor(data, tf.string), [])
    checks = GraphChecks()
    raw = bitops.from_string(data)
    n = tf.size(raw, out_type=tf.int64)
    buf = tf.concat([raw, tf.zeros([_GUARD], tf.int64)], 0)

    def byte(offset) -> tf.Tensor:
        return tf.gather(buf, tf.clip_by_value(tf.cast(offset, tf.int64), 0, n + _GUARD - 1))

    def u16(offset: int) -> tf.Tensor:
        return bitops.read_le(buf, offset, 2)

    # Stage 1: is this an intact file of a version we read?
    checks.check(n > 0, "empty", "the file is empty")
    checks.check(tf.reduce_all(tf.logical_or(tf.equal(buf[:4], tf.constant(list(MAGIC), tf.int64)),
                                             tf.range(4, dtype=tf.int64) >= n)),
                 "magic", "wrong magic bytes: not a tfgc file")
    checks.check(n >= 5, "truncated", "truncated before the version byte")
    version = buf[4]
    checks.check(version <= FORMAT_VERSION, "version",
                 f"unsupported .tfgc format version (this build reads up to {FORMAT_VERSION}):",
                 version)
    checks.check(version >= 1, "version_zero", "format version 0 does not exist")
    checks.check(n >= MIN_FILE_BYTES, "truncated",
                 f"truncated: a file has at least {MIN_FILE_BYTES} bytes")
    end = tf.maximum(n - CRC_BYTES, 0)
    raw = checks.gate(raw)
    stored_crc = bitops.read_le(buf, end, CRC_BYTES)
    checks.check(tf.equal(crc32.crc32(raw[:end]), stored_crc), "crc",
                 "CRC mismatch: the file is corrupted or truncated")
    buf = checks.gate(buf)

    # Stage 2: fixed header fields and limits.
    flags = buf[5]
    file_fp = buf[6:6 + FINGERPRINT_BYTES]
    image_h, image_w, pad_b, pad_r = u16(22), u16(24), u16(26), u16(28)
    h, w, c = u16(30), u16(32), u16(34)
    centers, model_byte, prec_byte = buf[36], buf[37], buf[38]
    seed = bitops.read_le(buf, 39, 4)
    unknown_flags = tf.bitwise.bitwise_and(flags, ~KNOWN_FLAGS)
    checks.check(tf.equal(unknown_flags, 0), "flags", "",
                 bitops.format_message(FLAGS_TEMPLATE, _hex(unknown_flags[tf.newaxis])))
    checks.check(tf.reduce_all(tf.stack([image_h, image_w, h, w]) >= 1), "sizes", "a size is 0")
    checks.check(tf.logical_and(c >= 1, c <= MAX_CHANNELS), "sizes",
                 "latent channels out of range")
    checks.check(tf.logical_and(centers >= MIN_CENTERS, centers <= MAX_CENTERS), "sizes",
                 "number of centers out of range")
    checks.check(tf.logical_and(h * w * c <= MAX_LATENT_ELEMENTS, w * c <= MAX_ROW_SYMBOLS),
                 "sizes", "latent larger than the limits")
    padded_h, padded_w = image_h + pad_b, image_w + pad_r
    h1, w1 = tf.maximum(h, 1), tf.maximum(w, 1)
    file_stride = padded_h // h1
    checks.check(tf.reduce_all(tf.stack([
        tf.equal(padded_h % h1, 0), tf.equal(padded_w % w1, 0),
        tf.equal(padded_w // w1, file_stride), pad_b < file_stride, pad_r < file_stride])),
        "stride", "image size + padding is not the latent size times one stride with less "
        "than a stride of padding")
    if stride is not None:
        checks.check(tf.equal(file_stride, stride), "stride",
                     f"the header's stride differs from the model's ({stride}):", file_stride)
    # The header bytes' rules are `format`'s, each applied as a gather (bitops.byte_rule).
    structure = bitops.byte_rule(
        lambda b: min(unpack_entropy_model_byte(b)[0], len(STRUCTURES) - 1), model_byte)
    use_model = tf.equal(bitops.byte_rule(lambda b: unpack_entropy_model_byte(b)[1],
                                          model_byte), 1)
    checks.check(tf.equal(bitops.byte_rule(entropy_model_byte_valid, model_byte), 1),
                 "entropy_model", "unknown entropy model")
    base = bitops.byte_rule(lambda b: unpack_precision_byte(b)[0], prec_byte)
    step = bitops.byte_rule(lambda b: unpack_precision_byte(b)[1], prec_byte)
    checks.check(tf.where(use_model, _precision_valid(prec_byte, True),
                          _precision_valid(prec_byte, False)), "precision",
                 "invalid table precision")
    neighbours = tf.reduce_sum(tf.cast(structure_uses(structure), tf.int64))
    num_contexts = c * (centers + 1) ** neighbours
    checks.check(num_contexts * (centers + 2) <= MAX_TABLE_ENTRIES, "contexts",
                 "too many contexts")
    sc_file = tf.not_equal(tf.bitwise.bitwise_and(flags, FLAG_SELECTIVE), 0)
    if selective is not None:  # before the fingerprint, which such a file never matches
        checks.check(tf.equal(sc_file, selective), "selective",
                     selective_mismatch_message(not selective))
    # F (16 bytes), or F then D: files using the model tables must carry F, others F or D.
    expected_fp = bitops.from_string(fingerprint)
    checks.check(tf.logical_or(tf.equal(tf.size(expected_fp), FINGERPRINT_BYTES),
                               tf.equal(tf.size(expected_fp), 2 * FINGERPRINT_BYTES)),
                 "fingerprint", "the decoder's fingerprint is not 16 bytes")
    expected_fp = tf.concat([expected_fp, expected_fp, tf.zeros([FINGERPRINT_BYTES], tf.int64)],
                            0)
    model_fp = expected_fp[:FINGERPRINT_BYTES]
    decoder_fp = expected_fp[FINGERPRINT_BYTES:2 * FINGERPRINT_BYTES]
    matches_decoder = tf.logical_and(tf.logical_not(use_model),
                                     tf.reduce_all(tf.equal(file_fp, decoder_fp)))
    checks.check(tf.logical_or(tf.reduce_all(tf.equal(file_fp, model_fp)), matches_decoder),
                 "fingerprint", "this file was made by model", _hex(file_fp),
                 "you are decoding with model",
                 _hex(tf.where(use_model, model_fp, decoder_fp)))
    if num_centers is not None:
        checks.check(tf.equal(centers, num_centers), "centers",
                     f"the file has a different number of centers than the model ({num_centers})")
    if num_channels is not None:
        checks.check(tf.equal(c, num_channels), "channels",
                     f"the file has a different number of channels than the model "
                     f"({num_channels})")
    if max_pixels is not None:
        max_pixels = tf.cast(max_pixels, tf.int64)
        pixels = image_h * image_w
        checks.check(pixels <= max_pixels, "pixels", "", tf.strings.format(
            PIXEL_LIMIT_TEMPLATE, (image_w, image_h, pixels, max_pixels)))
    buf, h, w, c, centers = checks.gate(buf, h, w, c, centers)

    # Stage 3: sections (skip unknown optional ones, reject unknown required ones; find the
    # SC preservation mask and label map and the colour offset: [start, length, count] of
    # each), lengths.
    known = tf.constant(sorted(KNOWN_SECTION_TYPES), tf.int64)

    def section_step(i, pos, ok, readable, found, _):
        kind, sflags = byte(pos), byte(pos + 1)
        length = bitops.read_le(tf.gather(buf, tf.clip_by_value(
            pos + 2 + tf.range(4, dtype=tf.int64), 0, n + _GUARD - 1)), 0, 4)
        ok = tf.logical_and(ok, pos + SECTION_HEADER.size <= end)
        ok = tf.logical_and(ok, tf.equal(tf.bitwise.bitwise_and(sflags, ~1), 0))
        ok = tf.logical_and(ok, length <= end - pos - SECTION_HEADER.size)
        readable = tf.logical_and(readable, tf.logical_or(
            tf.equal(sflags, 0), tf.reduce_any(tf.equal(kind, known))))
        start = pos + SECTION_HEADER.size
        found = tf.stack([
            tf.where(tf.equal(kind, t), tf.stack([start, length, row[2] + 1]), row)
            for t, row in zip(_FOUND_SECTIONS, tf.unstack(found))])
        # The last kind read: the unknown required one when the loop stops on it.
        return i + 1, tf.minimum(start + length, end), ok, readable, found, kind

    _, pos, sections_ok, readable, found, last_kind = tf.while_loop(
        lambda i, pos, ok, readable, *_: tf.logical_and(i < buf[FIXED_HEADER_BYTES],
                                                        tf.logical_and(ok, readable)),
        section_step,
        (tf.constant(0, tf.int64), tf.constant(FIXED_HEADER_BYTES + 1, tf.int64),
         tf.constant(True), tf.constant(True), tf.zeros([len(_FOUND_SECTIONS), 3], tf.int64),
         tf.constant(0, tf.int64)))
    checks.check(sections_ok, "section", "bad optional section")
    checks.check(readable, "required_section", "",
                 bitops.format_message(REQUIRED_SECTION_TEMPLATE, last_kind))
    ((mask_start, mask_length, mask_count), (labels_start, labels_length, labels_count),
     (offset_start, offset_length, offset_count)) = (tf.unstack(row) for row in tf.unstack(found))
    checks.check(tf.reduce_all(found[:, 2] <= 1), "section", "a section type repeats")
    checks.check(tf.logical_and(tf.equal(mask_count > 0, sc_file),
                                tf.equal(labels_count > 0, sc_file)),
                 "section",
                 "the selective-compression flag and the mask/label-map sections disagree")
    mask_bytes = (h * w + 7) // 8
    checks.check(tf.logical_or(tf.logical_not(sc_file), tf.equal(mask_length, mask_bytes)),
                 "section", "the preservation mask section has the wrong length")
    mask_bits = bitops.unpack_bits(checks.gate(raw)[mask_start:mask_start + mask_length])
    checks.check(tf.reduce_all(tf.equal(mask_bits[h * w:], 0)),
                 "section", "nonzero padding after the preservation mask")
    png = tf.gather(buf, tf.clip_by_value(labels_start + tf.range(PNG_HEADER_BYTES,
                                                                  dtype=tf.int64),
                                          0, n + _GUARD - 1))
    png_ok = tf.logical_and(labels_length >= PNG_HEADER_BYTES, tf.reduce_all(tf.equal(
        png[:16], tf.constant(list(PNG_SIGNATURE + b"\0\0\0\rIHDR"), tf.int64))))
    png_ok = tf.logical_and(png_ok, tf.reduce_all(tf.equal(
        png[16:24], tf.concat([_be32(image_w), _be32(image_h)], 0))))
    png_ok = tf.logical_and(png_ok, tf.reduce_all(tf.equal(png[24:26], [8, 0])))
    checks.check(tf.logical_or(tf.logical_not(sc_file), png_ok),
                 "section",
                 "the label-map section is not an 8-bit grayscale PNG of the image's size")
    checks.check(tf.logical_or(tf.equal(offset_count, 0),
                               tf.equal(offset_length, COLOUR_OFFSET_BYTES)), "section",
                 f"the colour-offset section must have {COLOUR_OFFSET_BYTES} bytes (R, G, B)")
    offset_bytes = tf.gather(buf, tf.clip_by_value(
        offset_start + tf.range(COLOUR_OFFSET_BYTES, dtype=tf.int64), 0, n + _GUARD - 1))
    colour_offset = tf.where(offset_count > 0, bitops.byte_rule(colour_offset_value,
                                                                offset_bytes), 0)
    keep = tf.where(sc_file, tf.reshape(tf.cast(tf.pad(mask_bits, [[0, h * w]])[:h * w],
                                                tf.bool), tf.stack([h, w])),
                    tf.ones(tf.stack([h, w]), tf.bool))
    label_map_png = tf.strings.substr(data, labels_start, labels_length)
    checks.check(pos < end, "lengths", "truncated before the stream lengths")
    length_bits = byte(pos)
    checks.check(length_bits <= MAX_LENGTH_BITS, "lengths", "stream lengths wider than 32 bits")
    length_bytes = (h * length_bits + 7) // 8
    lengths_start = pos + 1
    checks.check(lengths_start + length_bytes <= end, "lengths", "truncated stream lengths")
    length_field_bits = bitops.unpack_bits(checks.gate(raw)[lengths_start:
                                                            lengths_start + length_bytes])
    lengths = bitops.read_fields(length_field_bits, tf.range(h) * length_bits,
                                 tf.fill([h], length_bits))
    checks.check(tf.reduce_all(tf.equal(length_field_bits[h * length_bits:], 0)), "lengths",
                 "nonzero padding after the stream lengths")
    checks.check(tf.reduce_max(lengths) <= 2 * w * c + 2, "lengths",
                 "a stream is longer than the coder writes for its symbols (2 bytes each + 2)")
    checks.check(h * tf.reduce_max(lengths) <= MAX_STREAM_CELLS, "lengths",
                 "rows x longest stream larger than the limit")
    tables_start = lengths_start + length_bytes
    payload_size = tf.reduce_sum(lengths)
    tables_size = end - tables_start - payload_size
    checks.check(tables_size >= 0, "lengths", "the streams claim more bytes than the file has")
    checks.check(tf.logical_or(tf.logical_not(use_model), tf.equal(tables_size, 0)), "lengths",
                 "unexpected bytes before the payload")
    lengths, tables_size = checks.gate(lengths, tables_size)

    # Stage 4: tables -> lookup. Model tables are a runtime input (empty when there are none)
    # so one graph serves every model.
    freqs = tf.zeros([0, 0], tf.int32) if model_tables is None else tf.cast(model_tables,
                                                                             tf.int32)
    uses = structure_uses(structure)

    def model_lookup():
        # Model tables are identified by their shape (see tables.model_tables_structure), so
        # the file's structure must be the one that shape stands for.
        rows, cols = tf.shape(freqs, out_type=tf.int64)[0], tf.shape(freqs, out_type=tf.int64)[1]
        ok = tf.logical_and(tf.equal(num_contexts, rows), tf.equal(centers, cols))
        ok = tf.logical_and(ok, tf.equal(structure, tf.gather(
            tf.constant(CANONICAL_STRUCTURE, tf.int64), neighbours)))
        ok = tf.logical_and(ok, tf.reduce_all(freqs >= 1))
        ok = tf.logical_and(ok, tf.reduce_all(tf.equal(tf.reduce_sum(
            tf.cast(freqs, tf.int64), 1), 1 << MODEL_TABLE_PRECISION)))
        precision = tf.fill(tf.shape(freqs)[:1], tf.constant(MODEL_TABLE_PRECISION, tf.int64))
        lookup = tables.lookup_rows(freqs, precision)
        return tf.where(ok, lookup, tf.ones_like(lookup)), ok  # never an invalid lookup

    def file_lookup():
        section = raw[tables_start:tables_start + tables_size]
        return tables.read_table_section(section, c, centers, structure, w, base, step)

    lookup, tables_ok = tf.cond(use_model, model_lookup, file_lookup)
    checks.check(tf.logical_or(tf.logical_not(use_model), tf.size(freqs) > 0), "model_tables",
                 "this file uses the model's context tables: pass model_tables to decode it")
    checks.check(tf.logical_or(tables_ok, use_model), "tables", "invalid table section")
    checks.check(tf.logical_or(tables_ok, tf.logical_not(use_model)), "model_tables",
                 "the model tables do not fit this file: it was made by another model")
    certain = tf.shape(lookup)[0]  # uncoded SC positions use the certain row after the tables
    lookup = checks.gate(tf.concat([lookup, tf.constant(tables.certain_row_np(MAX_CENTERS))[
        :, :tf.shape(lookup)[1]]], 0))

    # Stage 5: range decoding, one stream per latent row.
    payload_start = tables_start + tables_size
    offsets = payload_start + tf.math.cumsum(lengths, exclusive=True)
    strings = tf.strings.substr(data, offsets, lengths)
    rows = _decode_rows(strings, lookup, h, w, c, centers, structure, uses, backend, keep,
                        certain)
    symbols = tf.reshape(rows, tf.stack([h, w, c]))
    # The coder's own end check (finalize) passes empty, truncated and over-read streams. The
    # encoder is deterministic, so a stream is valid exactly when it is the encoding of the
    # symbols it decodes to: re-encode every row and compare (each stream consumed exactly).
    coded = tf.broadcast_to(keep[..., None], tf.shape(symbols))
    index = tf.where(coded, runtime_context_index(tf.where(coded, symbols, tf.cast(
        centers, tf.int32)), centers, uses), tf.cast(certain, tf.int32))
    checks.check(tf.reduce_all(tf.equal(range_encode(rows, tf.reshape(index, tf.shape(rows)),
                                                     lookup, backend.name), strings)),
                 "payload", "a range-coder stream is not the encoding of the symbols it decodes "
                 "to (corrupted, padded or truncated payload)")
    symbols = checks.gate(symbols)
    if num_channels is not None:
        symbols = tf.ensure_shape(symbols, [None, None, num_channels])
    header = {
        "version": version, "flags": flags, "image_height": image_h, "image_width": image_w,
        "pad_bottom": pad_b, "pad_right": pad_r, "latent_height": h, "latent_width": w,
        "channels": c, "num_centers": centers, "entropy_model": model_byte,
        "noise_seed": seed, "payload_bytes": payload_size, "file_bytes": n,
        "preserve_mask": tf.cast(keep, tf.int32),  # [h, w]; all ones unless selective
        "label_map_png": label_map_png,  # "" unless selective
        "colour_offset": colour_offset,  # int64 [3], R G B levels; zeros without the section
    }
    return symbols, header


def _precision_valid(prec_byte: tf.Tensor, model_tables: bool) -> tf.Tensor:
    return tf.equal(bitops.byte_rule(lambda b: precision_byte_valid(b, model_tables),
                                     prec_byte), 1)


def _be32(value: tf.Tensor) -> tf.Tensor:
    return tf.reverse(bitops.le_bytes(value, 4), [0])


def _decode_rows(strings, lookup, h, w, c, centers, structure, uses, backend, keep, certain):
    """int32 [h, w * C]: all rows in lockstep, each step decoding position k of every row.

    Positions where keep [h, w] is False were coded with the certain row `certain` (no bits);
    as neighbours they read as "none", and they come out as symbol 0."""
    h32, steps, c32 = (tf.cast(h, tf.int32), tf.cast(w * c, tf.int32), tf.cast(c, tf.int32))
    none = tf.cast(centers, tf.int32)
    certain = tf.cast(certain, tf.int32)
    keep_steps = tf.repeat(keep, c32, axis=1)  # [h, w * C]

    def static():
        state = backend.create(strings, lookup)
        index = tf.tile(tf.range(c32)[None], tf.stack([h32, steps // c32]))
        return backend.decode_block(state, tf.where(keep_steps, index, certain))[1]

    def with_contexts():
        state = backend.create(strings, lookup)
        # Column k of the latent row is stored at k + C + 1; the first C + 1 slots hold "none",
        # so the left and diagonal neighbours of x = 0 need no special case.
        columns = tf.TensorArray(tf.int32, size=steps + c32 + 1, clear_after_read=False,
                                 element_shape=[None])
        columns = columns.scatter(tf.range(c32 + 1), tf.fill(tf.stack([c32 + 1, h32]), none))

        def body(k, state, columns):
            channel = k % c32
            left = columns.read(k + 1)
            prev = tf.where(channel > 0, columns.read(k + c32), none)
            diag = tf.where(channel > 0, columns.read(k), none)
            active = keep_steps[:, k]
            index = tf.where(active, step_context(channel, left, prev, diag, none, uses), certain)
            state, symbols = backend.decode_index(state, index)
            return k + 1, state, columns.write(k + c32 + 1, tf.where(active, symbols, none))

        _, state, columns = tf.while_loop(lambda k, *_: k < steps, body,
                                          (tf.constant(0), state, columns))
        symbols = tf.transpose(columns.stack()[c32 + 1:])
        return tf.where(keep_steps, symbols, 0)

    if backend.block_decoding:  # one op for the whole static case
        return tf.cond(tf.equal(structure, 0), static, with_contexts)
    return with_contexts()  # the loop handles the static case too (no neighbour used)
