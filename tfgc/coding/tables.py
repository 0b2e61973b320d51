"""Integer symbol tables: counts -> frequencies, their compact encoding, and model tables.

Why integers throughout: the range coder is integer-only, so a table that travels as integers
decodes identically on every machine; probabilities computed in floating point drift across
platforms and desynchronise the decoder. Every function here has a numpy twin used by the
pure-Python parser and by the tests to check the TF code.

Table section (file tables), for a structure with K contexts of which the "possible" ones
(see contexts.possible_contexts) are listed in index order:
  * a 2-bit class per possible context: 0 = uniform table (also used for contexts that do
    not occur), 1..3 = a table at precision base, base + step, base + 2 * step;
  * then, for j = 0 .. L-2, for every context of class >= 1 in index order: the frequency of
    its j-th symbol in writing order (symbols by distance from the context's anchor, its left
    or previous-channel neighbour, where tables peak) in bit_length(R_j) bits, where R_j is
    2**p minus the frequencies written before; the last frequency is the remainder. Fields
    are MSB-first, the section ends with zero bits up to a byte boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.coding import bitops
from tfgc.coding.contexts import (
    anchors,
    anchors_np,
    context_index_np,
    possible_contexts,
    possible_contexts_np,
    symbol_order,
    symbol_order_np,
)
from tfgc.coding.format import (
    CANONICAL_STRUCTURE,
    MAX_PRECISION,
    MODEL_TABLE_PRECISION,
    STRUCTURES,
    UNIFORM_PRECISION,
    BitstreamError,
    precision_byte_valid,
    reader_error,
    unpack_precision_byte,
)

# Costs are in 1/65536 bit; LOG2_FIXED[f] = round(log2(f) * 65536). Used only by the encoder to
# choose tables, so its rounding can never break decoding; as a constant it also makes the
# choice identical wherever the graph runs.
COST_ONE_BIT = 1 << 16
LOG2_FIXED = np.concatenate(
    [[0], np.round(np.log2(np.arange(1, (1 << 16) + 1)) * COST_ONE_BIT)]).astype(np.int64)
_INFEASIBLE = 1 << 60
# (base, step) pairs the encoder may pick: every one a valid precision byte stands for.
PRECISION_CHOICES = [unpack_precision_byte(v) for v in range(256)
                     if precision_byte_valid(v, model_tables=False)]
CLASS_BITS = 2


def uniform_freqs_np(num_centers: int) -> np.ndarray:
    total = 1 << UNIFORM_PRECISION
    freqs = np.full(num_centers, total // num_centers, np.int64)
    freqs[: total % num_centers] += 1
    return freqs


def quantize_counts_np(counts: np.ndarray, precision) -> np.ndarray:
    """Frequencies summing to 2**precision, >= 1 for every symbol that occurs.

    Each occurring symbol gets 1, the rest of the total is shared in proportion to the counts
    (floors), and what the floors leave goes one by one to the largest remainders (lower
    symbol first on ties). Rows without counts stay zero. Needs 2**precision >= #occurring.
    """
    counts = np.asarray(counts, np.int64)
    num = counts.shape[-1]
    total = np.left_shift(np.int64(1), np.asarray(precision, np.int64))[..., None]
    n = counts.sum(-1, keepdims=True)
    present = counts > 0
    share = total - present.sum(-1, keepdims=True)
    nn = np.maximum(n, 1)
    product = counts * share
    quotient = product // nn
    remainder = product - quotient * nn
    freqs = np.where(present, 1 + quotient, 0)
    left = total - freqs.sum(-1, keepdims=True)
    key = np.where(present, remainder * num + (num - 1 - np.arange(num)), -1)
    rank = np.argsort(np.argsort(-key, axis=-1, kind="stable"), axis=-1, kind="stable")
    freqs = freqs + (present & (rank < left))
    return np.where(n > 0, freqs, 0)


def quantize_counts(counts: tf.Tensor, precision: tf.Tensor) -> tf.Tensor:
    """TF twin of `quantize_counts_np` (int64 [..., L]; precision broadcasts against [...])."""
    counts = tf.cast(counts, tf.int64)
    num = tf.shape(counts, out_type=tf.int64)[-1]
    total = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.cast(precision, tf.int64))[..., None]
    n = tf.reduce_sum(counts, -1, keepdims=True)
    present = counts > 0
    share = total - tf.reduce_sum(tf.cast(present, tf.int64), -1, keepdims=True)
    nn = tf.maximum(n, 1)
    product = counts * share
    quotient = product // nn
    remainder = product - quotient * nn
    zero = tf.zeros_like(counts)
    freqs = tf.where(present, 1 + quotient, zero)
    left = total - tf.reduce_sum(freqs, -1, keepdims=True)
    key = tf.where(present, remainder * num + (num - 1 - tf.range(num)), zero - 1)
    order = tf.argsort(key, axis=-1, direction="DESCENDING", stable=True)
    rank = tf.cast(tf.argsort(order, axis=-1, stable=True), tf.int64)
    freqs = freqs + tf.cast(tf.logical_and(present, rank < left), tf.int64)
    return tf.where(n > 0, freqs, zero)


def lookup_rows(freqs: tf.Tensor, precision: tf.Tensor) -> tf.Tensor:
    """tfc lookup rows [p, 0, cdf_1 .. 2**p] (int32 [K, L + 2]) from frequencies."""
    freqs = tf.cast(freqs, tf.int64)
    cdf = tf.math.cumsum(freqs, axis=-1)
    rows = tf.concat([tf.cast(precision, tf.int64)[:, None], tf.zeros_like(cdf[:, :1]), cdf], -1)
    return tf.cast(rows, tf.int32)


def lookup_rows_np(freqs: np.ndarray, precision: np.ndarray) -> np.ndarray:
    freqs = np.asarray(freqs, np.int64)
    cdf = np.cumsum(freqs, axis=-1)
    return np.concatenate(
        [np.asarray(precision, np.int64)[:, None], np.zeros_like(cdf[:, :1]), cdf], -1
    ).astype(np.int32)


def certain_row_np(num_centers: int) -> np.ndarray:
    """The lookup row of positions an SC file does not code: symbol 0 with probability 1, so
    the range coder spends no bits on them (appended after the file's or model's tables)."""
    return lookup_rows_np(np.array([[1 << MODEL_TABLE_PRECISION] + [0] * (num_centers - 1)]),
                          np.array([MODEL_TABLE_PRECISION]))


# ---------------------------------------------------------------------------------------------
# Encoder: choosing and writing file tables.


@dataclass
class FileTables:
    """The encoder's choice for the contexts of one or several structures (all tensors)."""

    freqs: tf.Tensor  # int64 [K, L]
    precision: tf.Tensor  # int64 [K]
    classes: tf.Tensor  # int64 [K]
    base: tf.Tensor  # int64 [S], one per segment (structure)
    step: tf.Tensor  # int64 [S]
    field_bits: tf.Tensor  # int64 [S]: frequency-field bits of each segment's section


def choose_file_tables(counts: tf.Tensor, num_centers: int, segments: tf.Tensor | None = None,
                       num_segments: int = 1, order: tf.Tensor | None = None) -> FileTables:
    """Per-context precision classes minimising estimated payload + table bits.

    `segments` (int [K], default all 0) groups contexts by structure, so the tables of all
    candidate structures are chosen in one vectorised pass; each segment gets its own
    (base, step). `order` (int [K, L], default natural) is the order the frequencies are
    written in. Costs are exact integers (fixed-point log2 from a constant table), so the
    choice is the same on every machine; the encoder then compares real coded sizes.
    """
    counts = tf.cast(counts, tf.int64)  # [K, L]
    if segments is None:
        segments = tf.zeros(tf.shape(counts)[:1], tf.int64)
    if order is None:
        order = tf.broadcast_to(tf.range(num_centers, dtype=tf.int64), tf.shape(counts))
    precisions = tf.range(1, MAX_PRECISION + 1, dtype=tf.int64)  # [P]
    freqs = quantize_counts(counts[None], precisions[:, None])  # [P, K, L]
    log2 = tf.constant(LOG2_FIXED)
    # Where 2**p is below the number of distinct symbols the frequencies are meaningless
    # (marked infeasible below); clipping only keeps the lookup in range.
    bits = precisions[:, None, None] * COST_ONE_BIT - tf.gather(
        log2, tf.clip_by_value(freqs, 0, 1 << MAX_PRECISION))
    payload = tf.reduce_sum(counts[None] * bits, -1)  # [P, K]
    totals = tf.bitwise.left_shift(tf.constant(1, tf.int64), precisions)[:, None, None]
    written = tf.gather(freqs, tf.broadcast_to(order, tf.shape(freqs)), batch_dims=2)
    remaining = totals - tf.math.cumsum(written, axis=-1, exclusive=True)
    table_bits = tf.reduce_sum(bitops.bit_length(remaining[..., :-1]), -1)  # [P, K]
    distinct = tf.reduce_sum(tf.cast(counts > 0, tf.int64), -1)
    feasible = distinct[None] <= totals[:, :, 0]
    cost = tf.where(feasible, payload + table_bits * COST_ONE_BIT,
                    tf.constant(_INFEASIBLE, tf.int64))
    uniform = tf.constant(uniform_freqs_np(num_centers))
    uniform_bits = UNIFORM_PRECISION * COST_ONE_BIT - tf.gather(log2, uniform)
    uniform_cost = tf.reduce_sum(counts * uniform_bits, -1)  # [K]
    options = tf.concat([uniform_cost[None], cost], 0)  # [1 + P, K]: row p = precision p
    choices = tf.constant([[0, b, b + s, b + 2 * s] for b, s in PRECISION_CHOICES], tf.int64)
    per_choice = tf.reduce_min(tf.gather(options, choices), 1)  # [choices, K]
    per_segment = tf.math.unsorted_segment_sum(tf.transpose(per_choice), segments, num_segments)
    best = tf.argmin(per_segment, axis=1)  # [S]; ties: the first choice
    row_choices = tf.gather(choices, tf.gather(best, segments))  # [K, 4]
    row_costs = tf.gather(tf.transpose(options), row_choices, batch_dims=1)  # [K, 4]
    classes = tf.argmin(row_costs, axis=1)  # first minimum: the cheapest class
    row = tf.gather(row_choices, classes[:, None], batch_dims=1)[:, 0]  # 0 = uniform, else p
    precision = tf.where(row > 0, row, UNIFORM_PRECISION)
    index = tf.stack([tf.maximum(row - 1, 0), tf.range(tf.size(row, out_type=tf.int64))], 1)
    chosen = tf.gather_nd(freqs, index)
    freqs_out = tf.where((row > 0)[:, None], chosen, uniform[None])
    used_bits = tf.where(row > 0, tf.gather_nd(table_bits, index), 0 * row)
    pairs = tf.gather(tf.constant(PRECISION_CHOICES, tf.int64), best)
    return FileTables(freqs_out, precision, classes, pairs[:, 0], pairs[:, 1],
                      tf.math.unsorted_segment_sum(used_bits, segments, num_segments))


def write_table_section(freqs: tf.Tensor, precision: tf.Tensor, classes: tf.Tensor,
                        possible: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """The table section bytes (int64 [m]) for the chosen tables of one structure."""
    stored_classes = tf.boolean_mask(classes, possible)
    present = tf.reshape(tf.where(classes > 0), [-1])
    freqs = tf.gather(tf.gather(freqs, present), tf.gather(order, present), batch_dims=1)
    totals = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.gather(precision, present))
    remaining = totals[:, None] - tf.math.cumsum(freqs, axis=-1, exclusive=True)
    values = tf.reshape(tf.transpose(freqs[:, :-1]), [-1])
    widths = tf.reshape(tf.transpose(bitops.bit_length(remaining[:, :-1])), [-1])
    return bitops.pack_bits(
        tf.concat([stored_classes, values], 0),
        tf.concat([tf.fill(tf.shape(stored_classes), tf.constant(CLASS_BITS, tf.int64)), widths],
                  0))


# ---------------------------------------------------------------------------------------------
# Decoder: reading file tables (TF, with asserts) and the numpy validator.


def read_table_section(section: tf.Tensor, channels, num_centers, structure, width, base,
                       step) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses a table section (int64 bytes) into a tfc lookup; also returns an ok flag.

    All arguments are runtime int64 scalars (limits already checked). Nothing is asserted
    here: the caller asserts `ok` before using the lookup.
    """
    num_centers = tf.cast(num_centers, tf.int64)
    possible = possible_contexts(channels, num_centers, structure, width)
    num_possible = tf.reduce_sum(tf.cast(possible, tf.int64))
    bits = bitops.unpack_bits(section)
    nbits = tf.size(bits, out_type=tf.int64)
    codes = bitops.read_fields(bits, CLASS_BITS * tf.range(num_possible),
                               tf.fill([num_possible], tf.constant(CLASS_BITS, tf.int64)))
    where_possible = tf.where(possible)
    classes = tf.scatter_nd(where_possible, codes, tf.shape(possible, out_type=tf.int64))
    order = symbol_order(anchors(channels, num_centers, structure), num_centers)
    prec_options = tf.stack([tf.constant(UNIFORM_PRECISION, tf.int64), base, base + step,
                             base + 2 * step])
    precision = tf.gather(prec_options, classes)
    present = tf.reshape(tf.where(classes > 0), [-1])
    remaining = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.gather(precision, present))

    def body(i, pos, remaining, ok, out):
        widths = bitops.bit_length(remaining)
        offsets = pos + tf.math.cumsum(widths, exclusive=True)
        values = bitops.read_fields(bits, offsets, widths)
        ok = tf.logical_and(ok, tf.reduce_all(values <= remaining))
        values = tf.minimum(values, remaining)
        out = out.write(tf.cast(i, tf.int32), values)
        return i + 1, pos + tf.reduce_sum(widths), remaining - values, ok, out

    _, pos, remaining, ok, out = tf.while_loop(
        lambda i, *_: i < num_centers - 1, body,
        (tf.constant(0, tf.int64), CLASS_BITS * num_possible, remaining, tf.constant(True),
         tf.TensorArray(tf.int64, size=tf.cast(num_centers - 1, tf.int32),
                        element_shape=[None])))
    columns = tf.concat([out.stack(), remaining[None]], 0)  # [L, m], in writing order
    inverse = tf.argsort(tf.gather(order, present), axis=1, stable=True)
    freqs_present = tf.gather(tf.transpose(columns), inverse, batch_dims=1)
    ok = tf.logical_and(ok, pos <= nbits)
    # tf.equal, not ==: in a traced graph == is Python identity when TF's eager context is
    # broken (tfgc/utils/absl_app.py), which refused every file with in-file tables.
    ok = tf.logical_and(ok, tf.equal((pos + 7) // 8, tf.size(section, out_type=tf.int64)))
    ok = tf.logical_and(ok, tf.reduce_all(tf.equal(bits[tf.minimum(pos, nbits):], 0)))
    uniform = tf.range(num_centers) < (1 << UNIFORM_PRECISION) % num_centers
    uniform = (1 << UNIFORM_PRECISION) // num_centers + tf.cast(uniform, tf.int64)
    num_contexts = tf.size(classes, out_type=tf.int64)
    freqs = tf.tensor_scatter_nd_update(
        tf.tile(uniform[None], [num_contexts, 1]), present[:, None], freqs_present)
    return lookup_rows(freqs, precision), ok


def _fail(message: str) -> BitstreamError:
    return reader_error("tables", f"table section: {message}")


def parse_table_section_np(section: bytes, channels: int, num_centers: int, structure: int,
                           width: int, base: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Validating numpy twin of `read_table_section`: (freqs int64 [K, L], precision [K])."""
    possible = possible_contexts_np(channels, num_centers, structure, width)
    order = symbol_order_np(anchors_np(channels, num_centers, structure), num_centers)
    bits = np.unpackbits(np.frombuffer(section, np.uint8)).astype(np.int64)
    pos = 0

    def read(widths: np.ndarray) -> np.ndarray:
        nonlocal pos
        widths = np.asarray(widths, np.int64)
        if pos + int(widths.sum()) > bits.size:
            raise _fail(f"needs more than its {len(section)} bytes")
        out = np.zeros(widths.shape, np.int64)
        for j in range(int(widths.max(initial=0))):
            active = widths > j
            idx = pos + np.cumsum(widths) - widths + j
            out = np.where(active, (out << 1) | bits[np.where(active, idx, 0)], out)
        pos += int(widths.sum())
        return out

    classes = np.zeros(possible.size, np.int64)
    classes[possible] = read(np.full(int(possible.sum()), CLASS_BITS))
    options = np.array([UNIFORM_PRECISION, base, base + step, base + 2 * step])
    precision = options[classes]
    present = np.flatnonzero(classes > 0)
    remaining = np.left_shift(1, precision[present]).astype(np.int64)
    columns = []
    for i in range(num_centers - 1):
        values = read(np.array([int(r).bit_length() for r in remaining], np.int64))
        if np.any(values > remaining):
            raise _fail(f"frequency {i} exceeds what is left of its total")
        columns.append(values)
        remaining = remaining - values
    columns.append(remaining)
    if (pos + 7) // 8 != len(section) or bits[pos:].any():
        raise _fail(f"{len(section)} bytes but {pos} bits of tables")
    freqs = np.tile(uniform_freqs_np(num_centers), (possible.size, 1))
    if present.size:
        written = np.stack(columns, 1)
        unpermuted = np.zeros_like(written)
        np.put_along_axis(unpermuted, order[present], written, 1)
        freqs[present] = unpermuted
    return freqs, precision


# ---------------------------------------------------------------------------------------------
# Model tables: fitted once from training latents, stored in the model, zero bytes per file.


def model_tables_structure(tables: np.ndarray, num_centers: int, num_channels: int) -> int:
    """Validates model tables (int32 [K, L], rows summing to 2**16, all >= 1); its structure."""
    tables = np.asarray(tables)
    if tables.ndim != 2 or tables.shape[1] != num_centers or not np.issubdtype(
            tables.dtype, np.integer):
        raise ValueError(f"model tables must be an integer [contexts, {num_centers}] array, got "
                         f"{tables.dtype} {tables.shape}")
    for structure in CANONICAL_STRUCTURE:
        if tables.shape[0] == num_channels * (num_centers + 1) ** len(STRUCTURES[structure]):
            break
    else:
        raise ValueError(f"model tables have {tables.shape[0]} rows: not a context structure "
                         f"for C={num_channels}, L={num_centers}")
    total = 1 << MODEL_TABLE_PRECISION
    if np.any(tables < 1) or np.any(tables.astype(np.int64).sum(1) != total):
        raise ValueError(f"every model-table row must be >= 1 and sum to {total}")
    return structure


def fit_model_tables(symbols_iterable: Iterable[np.ndarray], num_centers: int,
                     num_channels: int, structure: int = 4) -> np.ndarray:
    """Context tables (int32 [K, L], precision 16, all >= 1) from training latents.

    Each element of `symbols_iterable` is int [h, w, C] or [B, h, w, C]. Counts of a context
    are smoothed towards its channel's distribution (a pseudo-count of 2), so contexts seen
    rarely or never in training still get sensible tables. Store the result in the model
    (it must be covered by the model fingerprint) and pass it to encode and decode.
    """
    if structure not in CANONICAL_STRUCTURE:
        raise ValueError(f"model tables support structures {CANONICAL_STRUCTURE}, got "
                         f"{structure}")
    base = num_centers + 1
    per_channel = base ** len(STRUCTURES[structure])
    counts = np.zeros((num_channels * per_channel, num_centers), np.int64)
    for symbols in symbols_iterable:
        symbols = np.asarray(symbols)
        for latent in symbols.reshape((-1, *symbols.shape[-3:])):
            if latent.shape[-1] != num_channels or latent.min() < 0 or latent.max() >= num_centers:
                raise ValueError(f"symbols must be [h, w, {num_channels}] in 0..{num_centers - 1}")
            index = context_index_np(latent, num_centers, structure)
            counts += np.bincount((index * num_centers + latent).ravel(),
                                  minlength=counts.size).reshape(counts.shape)
    channel = counts.reshape(num_channels, per_channel, num_centers).sum(1)
    channel_p = (channel + 0.5) / (channel + 0.5).sum(1, keepdims=True)
    prior = np.repeat(channel_p, per_channel, axis=0)
    smoothed = counts + 2.0 * prior
    scaled = np.maximum(np.round(smoothed / smoothed.sum(1, keepdims=True) * (1 << 30)), 1)
    tables = quantize_counts_np(scaled.astype(np.int64), MODEL_TABLE_PRECISION)
    return tables.astype(np.int32)
