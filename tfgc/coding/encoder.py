"""Symbols -> `.tfgc` bytes, as TF graph code (the exported `compress` signature runs this).

Every candidate entropy model is coded for real (tfc's range encoder, one stream per latent
row) and the smallest complete file wins, so the choice accounts for the table bytes and
the coder's actual output, and it is made with integers only (deterministic bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.coding import bitops, crc32, tables
from tfgc.coding.contexts import (
    anchors_np,
    context_index,
    possible_contexts_np,
    symbol_order_np,
)
from tfgc.coding.format import (
    COLOUR_OFFSET_BYTES,
    FINGERPRINT_BYTES,
    FLAG_SELECTIVE,
    FORMAT_VERSION,
    MAGIC,
    MAX_CENTERS,
    MAX_CHANNELS,
    MAX_COLOUR_OFFSET,
    MAX_IMAGE_SIDE,
    MAX_LATENT_ELEMENTS,
    MAX_ROW_SYMBOLS,
    MAX_STREAM_CELLS,
    MAX_TABLE_ENTRIES,
    MIN_CENTERS,
    MIN_COLOUR_OFFSET,
    MODEL_TABLE_PRECISION,
    MODEL_TABLES_BIT,
    SECTION_COLOUR_OFFSET,
    SECTION_LABEL_MAP,
    SECTION_PRESERVE_MASK,
    STRUCTURES,
    num_contexts,
    precision_byte,
)

# The encoder evaluates every precision for every context: keep that tensor small.
MAX_ENCODER_TABLE_CELLS = 1 << 22
MODEL = "model"
# Structure 4 with tables in the file never paid for its tables in our measurements (it is
# meant for model tables); 'auto' leaves it out to keep encoding fast.
AUTO_STRUCTURES = (0, 1, 2, 3)
# Range encoders, byte-identical: tfc's custom ops (fast) or stock_range_encoder (stock ops).
ENCODER_BACKENDS = ("tfc", "stock")


@dataclass(frozen=True)
class EncoderConfig:
    """Static choices baked into an encode graph."""

    num_centers: int
    num_channels: int
    candidates: tuple[int | str, ...]  # file-table structures and/or "model"
    model_tables: bytes | None  # int32 [K, L] raw bytes (hashable cache key)
    model_structure: int | None
    backend: str = "tfc"  # range encoder: "tfc" (custom ops) or "stock" (stock TF ops)
    selective: bool = False  # SC: a preservation mask and a label map come with the symbols
    colour_offset: bool = False  # a colour offset (int [3]) comes with the symbols


def _file_structure_ok(channels: int, centers: int, structure: int) -> bool:
    k = num_contexts(channels, centers, structure)
    return (k * (centers + 2) <= MAX_TABLE_ENTRIES
            and k * centers * tables.MAX_PRECISION <= MAX_ENCODER_TABLE_CELLS)


def make_config(num_centers: int, num_channels: int, model_tables: np.ndarray | None,
                entropy_models: str | Sequence[int | str], backend: str = "tfc",
                selective: bool = False, colour_offset: bool = False) -> EncoderConfig:
    """Checks the static arguments and resolves 'auto' into the list of candidates."""
    if backend not in ENCODER_BACKENDS:
        raise ValueError(f"unknown range-encoder backend {backend!r}; use one of "
                         f"{list(ENCODER_BACKENDS)}")
    if not MIN_CENTERS <= num_centers <= MAX_CENTERS:
        raise ValueError(f"num_centers must be in {MIN_CENTERS}..{MAX_CENTERS}, got {num_centers}")
    if not 1 <= num_channels <= MAX_CHANNELS:
        raise ValueError(f"the latent must have 1..{MAX_CHANNELS} channels, got {num_channels}")
    model_structure = None
    raw_tables = None
    if model_tables is not None:
        model_tables = np.asarray(model_tables)
        model_structure = tables.model_tables_structure(model_tables, num_centers, num_channels)
        raw_tables = model_tables.astype(np.int32).tobytes()
    if isinstance(entropy_models, str):
        if entropy_models != "auto":
            raise ValueError(f"entropy_models must be 'auto' or a list, got {entropy_models!r}")
        candidates: list[int | str] = [
            s for s in AUTO_STRUCTURES if _file_structure_ok(num_channels, num_centers, s)]
        if model_tables is not None:
            candidates.append(MODEL)
    else:
        candidates = list(entropy_models)
        for c in candidates:
            if c == MODEL:
                if model_tables is None:
                    raise ValueError("entropy model 'model' needs model_tables")
            elif c not in STRUCTURES:
                raise ValueError(f"unknown entropy model {c!r}; use structures "
                                 f"{sorted(STRUCTURES)} or 'model'")
            elif not _file_structure_ok(num_channels, num_centers, c):
                raise ValueError(f"structure {c} has too many contexts for C={num_channels}, "
                                 f"L={num_centers}")
        if not candidates:
            raise ValueError("entropy_models is empty")
    return EncoderConfig(num_centers, num_channels, tuple(dict.fromkeys(candidates)), raw_tables,
                         model_structure, backend, selective, colour_offset)


def _section(kind: int, data: tf.Tensor, required: bool = True) -> tf.Tensor:
    """A section: type, flags (bit 0 = required), little-endian length, data."""
    length = tf.cast(tf.strings.length(data), tf.int64)
    head = tf.concat([tf.constant([kind, int(required)], tf.int64), bitops.le_bytes(length, 4)],
                     0)
    return tf.strings.join([bitops.to_string(head), data])


def range_encode(values: tf.Tensor, index: tf.Tensor, lookup: tf.Tensor,
                  backend: str) -> tf.Tensor:
    """One string per row of `values` (int32 [n, m]); both backends give the same bytes."""
    if backend == "stock":  # stock TF ops only: the stock SavedModel's compress
        from tfgc.coding.stock_range_encoder import encode_index_all

        return encode_index_all(index, values, lookup)
    import tensorflow_compression as tfc  # lazily: stock graphs must not reference tfc

    handle = tfc.create_range_encoder(tf.shape(values)[:1], lookup)
    handle = tfc.entropy_encode_index(handle, index, values)
    return tfc.entropy_encode_finalize(handle)


def _assert(condition: tf.Tensor, message: str) -> tf.Operation:
    return tf.debugging.Assert(condition, [f"tfgc encode: {message}"])


def encode_graph(symbols: tf.Tensor, image_shape: tf.Tensor, padding: tf.Tensor,
                 fingerprint: tf.Tensor, noise_seed: tf.Tensor, config: EncoderConfig,
                 preserve_mask: tf.Tensor | None = None, label_map_png: tf.Tensor | None = None,
                 colour_offset: tf.Tensor | None = None) -> tf.Tensor:
    """The `.tfgc` file for int32 symbols [h, w, C] (C static): a scalar tf.string.

    With config.selective: preserve_mask [h, w] (nonzero = coded) and the label map as PNG
    bytes (8-bit gray, image size) are stored as sections, and only preserved symbols cost
    bits (the others are coded with a certain table; as neighbours they read as "none").
    With config.colour_offset: colour_offset (int [3], R G B in -128..127 levels) is stored
    as the optional colour-offset section when a channel is not 0 (else the file is as
    without it).
    """
    L, C = config.num_centers, config.num_channels
    symbols = tf.convert_to_tensor(symbols)
    symbols.shape.assert_is_compatible_with([None, None, C])
    symbols = tf.ensure_shape(tf.cast(symbols, tf.int32), [None, None, C])
    image_shape = tf.reshape(tf.cast(image_shape, tf.int64), [2])
    padding = tf.reshape(tf.cast(padding, tf.int64), [2])
    noise_seed = tf.cast(noise_seed, tf.int64)
    fp = bitops.from_string(fingerprint)  # F, or F then D (see api._fingerprint_tensor)
    shape = tf.shape(symbols, out_type=tf.int64)
    h, w = shape[0], shape[1]
    padded = image_shape + padding
    checks = [
        _assert(tf.logical_and(tf.reduce_min(symbols) >= 0, tf.reduce_max(symbols) < L),
                f"symbols must be in 0..{L - 1}"),
        _assert(tf.logical_and(tf.reduce_all(shape[:2] >= 1), tf.logical_and(
            h * w * C <= MAX_LATENT_ELEMENTS, w * C <= MAX_ROW_SYMBOLS)),
                f"latent must be non-empty with at most {MAX_LATENT_ELEMENTS} elements, "
                f"{MAX_ROW_SYMBOLS} per row"),
        _assert(tf.logical_and(tf.reduce_all(image_shape >= 1),
                               tf.reduce_all(image_shape <= MAX_IMAGE_SIDE)),
                f"image sides must be in 1..{MAX_IMAGE_SIDE}"),
        _assert(tf.logical_and(tf.reduce_all(padding >= 0),
                               tf.reduce_all(padding <= MAX_IMAGE_SIDE)),
                "padding must be in 0..65535"),
        _assert(tf.logical_and(tf.reduce_all(tf.equal(padded % shape[:2], 0)),
                               tf.equal(padded[0] // h, padded[1] // w)),
                "image size + padding must be the latent size times one stride"),
        _assert(tf.logical_or(tf.equal(tf.size(fp), FINGERPRINT_BYTES),
                              tf.equal(tf.size(fp), 2 * FINGERPRINT_BYTES)),
                f"the fingerprint must be {FINGERPRINT_BYTES} bytes"),
        _assert(tf.logical_and(noise_seed >= 0, noise_seed < (1 << 32)),
                "the noise seed must be a uint32"),
    ]
    if config.colour_offset:
        colour_offset = tf.reshape(tf.cast(colour_offset, tf.int64), [COLOUR_OFFSET_BYTES])
        checks.append(_assert(tf.logical_and(
            tf.reduce_all(colour_offset >= MIN_COLOUR_OFFSET),
            tf.reduce_all(colour_offset <= MAX_COLOUR_OFFSET)),
            f"the colour offset must be in {MIN_COLOUR_OFFSET}..{MAX_COLOUR_OFFSET}"))
    if config.selective:
        preserve_mask = tf.convert_to_tensor(preserve_mask)
        checks.append(_assert(tf.reduce_all(tf.equal(tf.shape(preserve_mask, out_type=tf.int64),
                                                     shape[:2])),
                              "the preservation mask must be h x w, the latent's size"))
    with tf.control_dependencies(checks):
        symbols = tf.identity(symbols)
    if config.selective:
        keep = tf.broadcast_to(tf.not_equal(preserve_mask, 0)[..., None], tf.shape(symbols))
        neighbours = tf.where(keep, symbols, L)  # uncoded positions read as "none"
        symbols = tf.where(keep, symbols, 0)  # and are coded as the certain symbol 0
    else:
        keep, neighbours = None, symbols
    rows = tf.reshape(symbols, [h, w * C])

    # All candidates at once: their contexts are numbered one after the other (file-table
    # structures first, then the model's), so one table choice and one range-encoder call
    # (one stream per row and candidate) serve them all.
    files = [s for s in config.candidates if s != MODEL]
    sizes_k = [num_contexts(C, L, s) for s in files]
    starts = np.concatenate([[0], np.cumsum(sizes_k)]).astype(np.int64)
    indexes = [context_index(neighbours, L, s) + int(start) for s, start in zip(files, starts)]
    model_bytes = [*files]
    lookups, table_bytes = [], []
    if files:
        k_file = int(starts[-1])
        cells = tf.stack(indexes) * L + symbols
        if keep is not None:  # uncoded positions are not counted (bincount skips >= maxlength)
            cells = tf.where(keep, cells, k_file * L)
        counts = tf.reshape(tf.math.bincount(
            tf.reshape(cells, [-1]), minlength=k_file * L,
            maxlength=k_file * L, dtype=tf.int64), [k_file, L])
        segments = np.repeat(np.arange(len(files)), sizes_k)
        order = tf.constant(np.concatenate(
            [symbol_order_np(anchors_np(C, L, s), L) for s in files]))
        chosen = tables.choose_file_tables(counts, L, tf.constant(segments), len(files), order)
        lookups.append(tables.lookup_rows(chosen.freqs, chosen.precision))
        # Which contexts can occur depends only on whether the latent is wider than 1.
        possible = {width: np.concatenate([possible_contexts_np(C, L, s, width) for s in files])
                    for width in (1, 2)}
        class_bits = {width: tables.CLASS_BITS * np.bincount(segments, possible[width])
                      for width in (1, 2)}
        class_bits = tf.cast(tf.where(w >= 2, class_bits[2], class_bits[1]), tf.int64)
        table_bytes.append((class_bits + chosen.field_bits + 7) // 8)
        precision_bytes = precision_byte(chosen.base, chosen.step)
    else:
        precision_bytes = tf.zeros([0], tf.int64)
    if MODEL in config.candidates:
        freqs = np.frombuffer(config.model_tables, np.int32).reshape(-1, L)
        lookups.append(tf.constant(tables.lookup_rows_np(
            freqs, np.full(len(freqs), MODEL_TABLE_PRECISION))))
        indexes.append(context_index(neighbours, L, config.model_structure) + int(starts[-1]))
        model_bytes.append(config.model_structure | MODEL_TABLES_BIT)
        table_bytes.append(tf.zeros([1], tf.int64))
        precision_bytes = tf.concat([precision_bytes, [0]], 0)
    num = len(indexes)
    if keep is not None:
        model_rows = (len(np.frombuffer(config.model_tables, np.int32)) // L
                      if MODEL in config.candidates else 0)
        certain = int(starts[-1]) + model_rows
        indexes = [tf.where(keep, index, certain) for index in indexes]
        lookups.append(tf.constant(tables.certain_row_np(L)))
    streams = tf.reshape(range_encode(
        tf.tile(rows, [num, 1]), tf.reshape(tf.stack(indexes), [num * h, w * C]),
        tf.concat(lookups, 0), config.backend), [num, h])
    lengths = tf.cast(tf.strings.length(streams), tf.int64)
    max_length = tf.reduce_max(lengths, axis=1)
    length_bits = bitops.bit_length(max_length)
    sizes = tf.concat(table_bytes, 0) + (h * length_bits + 7) // 8 + tf.reduce_sum(lengths, 1)
    best = tf.argmin(sizes)  # ties: the first (simplest) candidate
    with tf.control_dependencies([_assert(h * max_length[best] <= MAX_STREAM_CELLS,
                                          "rows x longest stream exceeds the format's limit")]):
        best = tf.identity(best)

    def best_section() -> tf.Tensor:
        lo, hi = tf.gather(starts, best), tf.gather(starts, best + 1)
        mask = tf.where(w >= 2, possible[2], possible[1])[lo:hi]
        return bitops.to_string(tables.write_table_section(
            chosen.freqs[lo:hi], chosen.precision[lo:hi], chosen.classes[lo:hi], mask,
            order[lo:hi]))

    section = (tf.cond(best < len(files), best_section, lambda: tf.constant(""))
               if files else tf.constant(""))

    if config.selective:
        mask_bits = bitops.pack_bits(tf.cast(tf.not_equal(preserve_mask, 0), tf.int64),
                                     tf.ones([h * w], tf.int64))
        sections = tf.strings.join([
            _section(SECTION_PRESERVE_MASK, bitops.to_string(mask_bits)),
            _section(SECTION_LABEL_MAP, tf.reshape(label_map_png, []))])
        flags, section_count = FLAG_SELECTIVE, 2
    else:
        sections, flags, section_count = tf.constant(""), 0, 0
    if config.colour_offset:  # optional: readers before it decode the file without it
        with_offset = tf.reduce_any(tf.not_equal(colour_offset, 0))
        offset_section = _section(SECTION_COLOUR_OFFSET, bitops.to_string(
            tf.math.floormod(colour_offset, 256)), required=False)
        sections = tf.strings.join([sections, tf.where(with_offset, offset_section, "")])
        section_count = section_count + tf.cast(with_offset, tf.int64)
    header = tf.concat([
        tf.constant([*MAGIC, FORMAT_VERSION, flags], tf.int64),  # magic, version, flags
        tf.where(tf.gather(tf.constant([bool(b & MODEL_TABLES_BIT) for b in model_bytes]), best),
                 fp[:FINGERPRINT_BYTES],
                 tf.concat([fp, fp], 0)[FINGERPRINT_BYTES:2 * FINGERPRINT_BYTES]),
        bitops.le_bytes(image_shape[0], 2), bitops.le_bytes(image_shape[1], 2),
        bitops.le_bytes(padding[0], 2), bitops.le_bytes(padding[1], 2),
        bitops.le_bytes(h, 2), bitops.le_bytes(w, 2), bitops.le_bytes(C, 2),
        tf.constant([L], tf.int64),
        tf.gather(tf.constant(model_bytes, tf.int64), best)[None],
        tf.gather(precision_bytes, best)[None],
        bitops.le_bytes(noise_seed, 4),
        tf.reshape(tf.cast(section_count, tf.int64), [1]),
    ], axis=0)
    lengths_field = tf.concat([
        length_bits[best][None],
        bitops.pack_bits(lengths[best], tf.fill([h], length_bits[best])),
    ], axis=0)
    body = tf.strings.join([
        bitops.to_string(header),
        sections,
        bitops.to_string(lengths_field),
        section,
        tf.strings.reduce_join(streams[best]),
    ])
    return tf.strings.join([body, bitops.to_string(crc32.crc32_bytes_le(bitops.from_string(body)))])
