"""`.tfgz` bytes -> z, as TF graph code (the `decompress` of a generator SavedModel, and of a
prior + G export, runs this).

The same checks as the Python reader (`fileformat.parse_header`), as asserts named after
`fileformat.CHECKS` in the same order, so `error_from_graph` classifies a failure exactly as
the Python API would. With backend "stock" the graph uses stock TF ops only (a server without
tensorflow_compression can run it); bzip2 payloads have no stock op and are refused ("coder").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from tfgc.coding import bitops, crc32
from tfgc.coding.backends import get_backend
from tfgc.coding.decoder import GraphChecks
from tfgc.errors import TfgcError
from tfgc.reversal import fileformat
from tfgc.reversal.fileformat import (
    CODERS,
    GRAPH_PREFIX,
    HEADER_BYTES,
    MAGIC,
    MAX_LATENT_SIZE,
    MAX_LEVELS,
    MODEL_FINGERPRINT_BYTES,
    PRIOR_VERSION,
    TABLE_PRECISION,
    VERSION,
)

# Zeros behind the data, so the fixed-offset reads (the version 2 header: the version 1 header
# and the GC model fingerprint) never fail.
_GUARD = HEADER_BYTES + MODEL_FINGERPRINT_BYTES


def prior_table_graph(step: tf.Tensor, k_min: tf.Tensor, levels: tf.Tensor,
                      prior_range: tuple[float, float]) -> tf.Tensor:
    """`fileformat.prior_table` in TF ops (int64 [levels]), the same integers: float64 like
    numpy, and with a prior range like [-1, 1] every overlap and their sum are exact, so the
    summation order does not matter; ties for the largest go to the first, as np.argmax."""
    low, high = (tf.constant(v, tf.float64) for v in prior_range)
    step = tf.cast(step, tf.float64)
    centers = step * (tf.cast(k_min, tf.float64) + tf.range(levels, dtype=tf.float64))
    overlap = tf.maximum(tf.minimum(centers + step / 2, high) - tf.maximum(centers - step / 2, low),
                         0.0)
    total = 1 << TABLE_PRECISION
    count = tf.cast(levels, tf.float64)
    covered = tf.reduce_sum(overlap)
    share = tf.where(covered > 0, overlap / tf.where(covered > 0, covered, 1.0), 1.0 / count)
    freqs = 1 + tf.cast(tf.floor(share * (total - count)), tf.int64)
    first_max = tf.reduce_min(tf.where(tf.equal(freqs, tf.reduce_max(freqs)))[:, 0])
    return freqs + tf.one_hot(first_max, levels, on_value=total - tf.reduce_sum(freqs),
                              off_value=tf.constant(0, tf.int64), dtype=tf.int64)


class GraphLatent(NamedTuple):
    """What `read_latent` reads: z and the image size the file states (int64 scalars)."""

    z: tf.Tensor  # float32 [D]
    height: tf.Tensor
    width: tf.Tensor


def read_latent(data: tf.Tensor, *, fingerprint: bytes, prior_range: tuple[float, float],
                latent_size: int | Callable[[tf.Tensor, tf.Tensor], tf.Tensor], max_pixels,
                image_shape: tuple[int, int] | None = None,
                model_fingerprint: bytes | None = None, backend: str = "stock") -> GraphLatent:
    """z of a `.tfgz` file (scalar string) made by the generator with this fingerprint.

    A generator SavedModel's file (version 1): `image_shape` and `latent_size` are its.
    A prior + G file (version 2): `model_fingerprint` is the GC model's, `image_shape` None
    (any size) and `latent_size` a function of the file's (height, width), the z values of
    its tile grid. max_pixels: int64 scalar, the decode-size policy."""
    data = tf.reshape(tf.convert_to_tensor(data, tf.string), [])
    checks = GraphChecks(GRAPH_PREFIX)
    raw = bitops.from_string(data)
    n = tf.size(raw, out_type=tf.int64)
    buf = tf.concat([raw, tf.zeros([_GUARD], tf.int64)], 0)

    def u(offset: int, size: int) -> tf.Tensor:
        return bitops.read_le(buf, offset, size)

    checks.check(n > 0, "empty", "the file is empty")
    checks.check(tf.reduce_all(tf.logical_or(tf.equal(buf[:4], list(MAGIC)),
                                             tf.range(4, dtype=tf.int64) >= n)),
                 "magic", f"wrong magic bytes (expected {MAGIC!r})")
    checks.check(tf.logical_or(n < 5, buf[4] <= VERSION), "version",
                 f"unsupported reversal file version (this build reads up to {VERSION}):",
                 buf[4])
    checks.check(n >= HEADER_BYTES + 4, "truncated", "truncated:", n, "bytes")
    payload_bytes = u(42, 4)
    header_bytes = HEADER_BYTES + tf.where(buf[4] >= PRIOR_VERSION,
                                           tf.constant(MODEL_FINGERPRINT_BYTES, tf.int64), 0)
    checks.check(tf.equal(n, header_bytes + payload_bytes + 4), "truncated",
                 "file length and header disagree (truncated or padded):", n)
    end = tf.maximum(n - 4, 0)
    raw = checks.gate(raw)
    checks.check(tf.equal(crc32.crc32(raw[:end]), bitops.read_le(buf, end, 4)), "crc",
                 "CRC mismatch (the file is corrupted)")
    buf = checks.gate(buf)

    version, coder = buf[4], buf[5]
    file_fingerprint = buf[6:22]
    height, width, size = u(22, 2), u(24, 2), u(26, 4)
    step = tf.bitcast(tf.cast(u(30, 4), tf.uint32), tf.float32)
    k_min = tf.bitcast(tf.cast(u(34, 4), tf.uint32), tf.int32)
    levels = u(38, 4)
    checks.check(tf.reduce_all(tf.stack([
        coder < len(CODERS), size > 0, size <= MAX_LATENT_SIZE, levels > 0,
        levels <= MAX_LEVELS, step > 0, tf.math.is_finite(step), version >= 1, height > 0,
        width > 0])), "fields", "impossible header fields")
    _check_identity(checks, version, file_fingerprint,
                    buf[HEADER_BYTES:HEADER_BYTES + MODEL_FINGERPRINT_BYTES],
                    fingerprint, model_fingerprint)
    if image_shape is not None:
        checks.check(tf.reduce_all(tf.equal(tf.stack([height, width]), list(image_shape))),
                     "shape", f"the file's image size is not the generator's "
                     f"({image_shape[1]}x{image_shape[0]}):", width, height)
    expected = (tf.constant(latent_size, tf.int64) if isinstance(latent_size, int)
                else tf.cast(latent_size(height, width), tf.int64))
    checks.check(tf.equal(size, expected), "shape",
                 "the file's number of z values is not the generator's:", size, expected)
    max_pixels = tf.cast(max_pixels, tf.int64)
    checks.check(height * width <= max_pixels, "pixels",
                 "this file decodes to an image above the pixel limit; if you trust it, raise "
                 "the limit (max_pixels= in Python, --max-pixels on the command line): width, "
                 "height, limit =", width, height, max_pixels)
    checks.check(tf.equal(coder, CODERS["range"]), "coder",
                 "this file's z is coded with bzip2, which the SavedModel cannot decode "
                 "(stock TF has no bzip2 op); decode it with the Python API or "
                 "`python -m tfgc decompress`, or write range-coded files")
    # Nothing below runs unless every header check passed (no allocation from a bad header).
    header_bytes, payload_bytes, size, step, k_min, levels = checks.gate(
        header_bytes, payload_bytes, size, step, k_min, levels)
    payload = tf.strings.substr(data, tf.cast(header_bytes, tf.int32),
                                tf.cast(payload_bytes, tf.int32))
    freqs = prior_table_graph(step, k_min, tf.cast(levels, tf.int32), prior_range)
    lookup = tf.cast(tf.concat([[TABLE_PRECISION, 0], tf.cumsum(freqs)], 0), tf.int32)
    decoder = get_backend(backend)
    state = decoder.create(payload[tf.newaxis], lookup[tf.newaxis])
    state, symbols = decoder.decode_block(
        state, tf.zeros(tf.stack([1, tf.cast(size, tf.int32)]), tf.int32))
    checks.check(decoder.finalize(state), "payload", "the range-coded symbols end early")
    checks.check(tf.reduce_all(tf.cast(symbols, tf.int64) < levels), "payload",
                 "a symbol is out of range")
    symbols, height, width = checks.gate(symbols[0], height, width)
    return GraphLatent(step * tf.cast(k_min + symbols, tf.float32), height, width)


def _check_identity(checks: GraphChecks, version: tf.Tensor, file_fingerprint: tf.Tensor,
                    file_model: tf.Tensor, fingerprint: bytes,
                    model_fingerprint: bytes | None) -> None:
    """The "fingerprint" check of `fileformat._check_identity`: the kind of generator, then
    the prior (or generator), then G."""
    if model_fingerprint is None:
        checks.check(version < PRIOR_VERSION, "fingerprint",
                     "this file was made by a code prior with a GC model's G, not by a "
                     "generator SavedModel: decode it with that prior + G's SavedModel "
                     "(`export.py --prior`), `python -m tfgc decompress --prior PRIOR_DIR "
                     "--generator MODEL_DIR` or the Python API")
    else:
        checks.check(version >= PRIOR_VERSION, "fingerprint",
                     "this file was made by a generator SavedModel, not by a code prior + GC "
                     "model: decode it with that generator's SavedModel or `python -m tfgc "
                     "decompress --generator GENERATOR_DIR`, without --prior")
    what = "generator" if model_fingerprint is None else "code prior"
    checks.check(tf.reduce_all(tf.equal(file_fingerprint, list(fingerprint))), "fingerprint",
                 f"this file was made by another {what}, not by this one "
                 f"({fingerprint.hex()}): decode it with the {what} that made it")
    if model_fingerprint is not None:
        checks.check(tf.reduce_all(tf.equal(file_model, list(model_fingerprint))),
                     "fingerprint", f"this file was made with the G of another GC model, not "
                     f"of model {model_fingerprint.hex()}: decode it with the model the prior "
                     "was trained on")


def error_from_graph(error: tf.errors.InvalidArgumentError) -> TfgcError:
    """The tfgc exception for a failed check of `read_latent` (e.g. from a SavedModel's
    `decompress`): the class the Python reader raises for the same file."""
    from tfgc.coding.api import error_from_graph as classify

    return classify(error, fileformat)
