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
from tfgc.coding.contexts import context_index, possible_contexts_np
from tfgc.coding.format import (
    FINGERPRINT_BYTES,
    FORMAT_VERSION,
    MAGIC,
    MAX_CENTERS,
    MAX_CHANNELS,
    MAX_IMAGE_SIDE,
    MAX_LATENT_ELEMENTS,
    MAX_TABLE_ENTRIES,
    MIN_CENTERS,
    MODEL_TABLE_PRECISION,
    MODEL_TABLES_BIT,
    STRUCTURES,
    num_contexts,
)

# The encoder evaluates every precision for every context: keep that tensor small.
MAX_ENCODER_TABLE_CELLS = 1 << 22
MODEL = "model"


@dataclass(frozen=True)
class EncoderConfig:
    """Static choices baked into an encode graph."""

    num_centers: int
    num_channels: int
    candidates: tuple[int | str, ...]  # file-table structures and/or "model"
    model_tables: bytes | None  # int32 [K, L] raw bytes (hashable cache key)
    model_structure: int | None


def _file_structure_ok(channels: int, centers: int, structure: int) -> bool:
    k = num_contexts(channels, centers, structure)
    return (k * (centers + 2) <= MAX_TABLE_ENTRIES
            and k * centers * tables.MAX_PRECISION <= MAX_ENCODER_TABLE_CELLS)


def make_config(num_centers: int, num_channels: int, model_tables: np.ndarray | None,
                entropy_models: str | Sequence[int | str]) -> EncoderConfig:
    """Checks the static arguments and resolves 'auto' into the list of candidates."""
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
            s for s in STRUCTURES if _file_structure_ok(num_channels, num_centers, s)]
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
                         model_structure)


def _range_encode(values: tf.Tensor, index: tf.Tensor, lookup: tf.Tensor) -> tf.Tensor:
    import tensorflow_compression as tfc  # lazily: decoding graphs must not reference tfc

    handle = tfc.create_range_encoder(tf.shape(values)[:1], lookup)
    handle = tfc.entropy_encode_index(handle, index, values)
    return tfc.entropy_encode_finalize(handle)


def _assert(condition: tf.Tensor, message: str) -> tf.Operation:
    return tf.debugging.Assert(condition, [f"tfgc encode: {message}"])


def encode_graph(symbols: tf.Tensor, image_shape: tf.Tensor, padding: tf.Tensor,
                 fingerprint: tf.Tensor, noise_seed: tf.Tensor, config: EncoderConfig
                 ) -> tf.Tensor:
    """The `.tfgc` file for int32 symbols [h, w, C] (C static): a scalar tf.string."""
    L, C = config.num_centers, config.num_channels
    symbols = tf.convert_to_tensor(symbols)
    symbols.shape.assert_is_compatible_with([None, None, C])
    symbols = tf.ensure_shape(tf.cast(symbols, tf.int32), [None, None, C])
    image_shape = tf.reshape(tf.cast(image_shape, tf.int64), [2])
    padding = tf.reshape(tf.cast(padding, tf.int64), [2])
    noise_seed = tf.cast(noise_seed, tf.int64)
    fp = bitops.from_string(fingerprint)
    shape = tf.shape(symbols, out_type=tf.int64)
    h, w = shape[0], shape[1]
    padded = image_shape + padding
    checks = [
        _assert(tf.logical_and(tf.reduce_min(symbols) >= 0, tf.reduce_max(symbols) < L),
                f"symbols must be in 0..{L - 1}"),
        _assert(tf.logical_and(tf.reduce_all(shape[:2] >= 1),
                               h * w * C <= MAX_LATENT_ELEMENTS),
                f"latent must be non-empty with at most {MAX_LATENT_ELEMENTS} elements"),
        _assert(tf.logical_and(tf.reduce_all(image_shape >= 1),
                               tf.reduce_all(image_shape <= MAX_IMAGE_SIDE)),
                f"image sides must be in 1..{MAX_IMAGE_SIDE}"),
        _assert(tf.logical_and(tf.reduce_all(padding >= 0),
                               tf.reduce_all(padding <= MAX_IMAGE_SIDE)),
                "padding must be in 0..65535"),
        _assert(tf.logical_and(tf.reduce_all(tf.equal(padded % shape[:2], 0)),
                               tf.equal(padded[0] // h, padded[1] // w)),
                "image size + padding must be the latent size times one stride"),
        _assert(tf.equal(tf.size(fp), FINGERPRINT_BYTES),
                f"the fingerprint must be {FINGERPRINT_BYTES} bytes"),
        _assert(tf.logical_and(noise_seed >= 0, noise_seed < (1 << 32)),
                "the noise seed must be a uint32"),
    ]
    with tf.control_dependencies(checks):
        symbols = tf.identity(symbols)
    rows = tf.reshape(symbols, [h, w * C])

    model_bytes, precision_bytes, table_sections, streams = [], [], [], []
    for candidate in config.candidates:
        if candidate == MODEL:
            structure = config.model_structure
            freqs = np.frombuffer(config.model_tables, np.int32).reshape(-1, L)
            lookup = tf.constant(tables.lookup_rows_np(
                freqs, np.full(len(freqs), MODEL_TABLE_PRECISION)))
            index = context_index(symbols, L, structure)
            model_bytes.append(structure | MODEL_TABLES_BIT)
            precision_bytes.append(tf.constant(0, tf.int64))
            table_sections.append(tf.constant(""))
        else:
            structure = candidate
            k = num_contexts(C, L, structure)
            index = context_index(symbols, L, structure)
            counts = tf.reshape(tf.math.bincount(
                tf.reshape(index * L + symbols, [-1]), minlength=k * L, maxlength=k * L,
                dtype=tf.int64), [k, L])
            chosen = tables.choose_file_tables(counts, L)
            lookup = tables.lookup_rows(chosen.freqs, chosen.precision)
            # Which contexts can occur depends only on whether the latent is wider than 1.
            possible = tf.where(w >= 2, possible_contexts_np(C, L, structure, 2),
                                possible_contexts_np(C, L, structure, 1))
            table_sections.append(bitops.to_string(tables.write_table_section(chosen, possible)))
            model_bytes.append(structure)
            precision_bytes.append((chosen.base - 1) + (chosen.step - 1) * 16)
        streams.append(_range_encode(rows, tf.reshape(index, [h, w * C]), lookup))

    streams = tf.stack(streams)  # [candidates, h]
    lengths = tf.cast(tf.strings.length(streams), tf.int64)
    max_length = tf.reduce_max(lengths, axis=1)
    length_bits = bitops.bit_length(max_length)
    table_sizes = tf.cast(tf.strings.length(tf.stack(table_sections)), tf.int64)
    sizes = table_sizes + (h * length_bits + 7) // 8 + tf.reduce_sum(lengths, axis=1)
    best = tf.argmin(sizes)  # ties: the first (simplest) candidate

    header = tf.concat([
        tf.constant([*MAGIC, FORMAT_VERSION, 0], tf.int64),  # magic, version, flags
        fp,
        bitops.le_bytes(image_shape[0], 2), bitops.le_bytes(image_shape[1], 2),
        bitops.le_bytes(padding[0], 2), bitops.le_bytes(padding[1], 2),
        bitops.le_bytes(h, 2), bitops.le_bytes(w, 2), bitops.le_bytes(C, 2),
        tf.constant([L], tf.int64),
        tf.gather(tf.constant(model_bytes, tf.int64), best)[None],
        tf.gather(tf.stack(precision_bytes), best)[None],
        bitops.le_bytes(noise_seed, 4),
        tf.constant([0], tf.int64),  # no optional sections
        length_bits[best][None],
        bitops.pack_bits(lengths[best], tf.fill([h], length_bits[best])),
    ], axis=0)
    body = tf.strings.join([
        bitops.to_string(header),
        tf.gather(tf.stack(table_sections), best),
        tf.strings.reduce_join(streams[best]),
    ])
    return tf.strings.join([body, bitops.to_string(crc32.crc32_bytes_le(bitops.from_string(body)))])
