"""The `.tfgz` reversal file: a quantised generator input z, losslessly coded.

Layout (little-endian; specified in docs/bitstream.md, "Reversal files"):

    magic "TFGZ" | version u8 | coder u8 | generator fingerprint 16 B | image height u16 |
    image width u16 | latent size D u32 | step f32 | k_min i32 | levels K u32 |
    payload length u32 | [version 2: GC model fingerprint 16 B] | payload |
    CRC-32 u32 of everything before it

Version 1: z of a generator SavedModel (one image size). Version 2: z of a code prior's tiles
decoded by a GC model's G (`generators.PriorTiledGenerator`, any image size): the generator
fingerprint field holds the prior's, the extra field the GC model's, so a wrong prior and a
wrong G are each refused by name. A writer uses version 1 whenever it can.

z = step * (k_min + symbol), symbols 0..K-1. Coder 0: tfc's range coder, one stream, with an
integer table both sides derive from (prior range, step, k_min, K): nothing but the symbols is
stored. Coder 1: bzip2 of the symbols as bytes (K <= 256), the seed paper's choice.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from tfgc.coding.format import pixel_limit_message
from tfgc.errors import (
    BitstreamError,
    ModelMismatchError,
    ResourceLimitError,
    TfgcError,
    UnsupportedVersionError,
)

MAGIC = b"TFGZ"
VERSION = 2  # the newest this build reads and writes
PRIOR_VERSION = 2  # the first version with the GC model fingerprint (prior + G files)
CODERS = {"range": 0, "bzip2": 1}
_HEADER = struct.Struct("<4sBB16sHHIfiII")
HEADER_BYTES = _HEADER.size  # 46: version 1
MODEL_FINGERPRINT_BYTES = 16
MAX_SIDE = 0xFFFF  # the header's u16 height and width
TABLE_PRECISION = 16
MAX_LATENT_SIZE = 1 << 20
MAX_LEVELS = 1 << 15

# Every check a reader makes, by name, in the order it makes them (docs/bitstream.md), with
# the error it raises: the Python reader raises and the SavedModel's decode graph
# (`tfgc.reversal.graph_reader`) asserts by these names, so both classify a bad file alike.
CHECKS: dict[str, type[TfgcError]] = {
    "empty": BitstreamError,
    "magic": BitstreamError,
    "version": UnsupportedVersionError,
    "truncated": BitstreamError,
    "crc": BitstreamError,
    "fields": BitstreamError,
    "fingerprint": ModelMismatchError,
    "shape": ModelMismatchError,  # image size or number of z values not the generator's
    "pixels": ResourceLimitError,
    "coder": UnsupportedVersionError,  # only the SavedModel: it cannot decode bzip2
    "payload": BitstreamError,
}
# The decode graph's assert messages start with this, then the check's name and ": ".
GRAPH_PREFIX = "tfgc reversal file: "


def reader_error(check: str, message: str) -> TfgcError:
    """The exception for a failed reader check: one class per check (Python and graph)."""
    error = CHECKS[check]
    if error is BitstreamError:
        message = f"not a valid .tfgz file: {message}"
    return error(message)


@dataclass
class LatentCode:
    """Quantised z: z = step * (k_min + symbols), symbols int32 [D] in 0..levels-1."""

    symbols: np.ndarray
    step: float
    k_min: int
    levels: int

    def values(self) -> np.ndarray:
        """float32 z, computed from the float32 step the file stores (same in every reader)."""
        return np.float32(self.step) * (self.k_min + self.symbols).astype(np.float32)


@dataclass
class ReversalHeader:
    version: int
    coder: str
    fingerprint: bytes
    image_height: int
    image_width: int
    latent_size: int
    step: float
    k_min: int
    levels: int
    payload_bytes: int
    model_fingerprint: bytes | None = None  # version 2: the GC model whose G decodes z

    @property
    def header_bytes(self) -> int:
        return header_bytes(self.version)


def header_bytes(version: int) -> int:
    """Bytes before the payload in a file of this version."""
    return HEADER_BYTES + (MODEL_FINGERPRINT_BYTES if version >= PRIOR_VERSION else 0)


def is_reversal_file(data: bytes) -> bool:
    return data[:4] == MAGIC


def prior_table(step: float, k_min: int, levels: int, prior_range: tuple[float, float]
                ) -> np.ndarray:
    """Integer frequencies (sum 2**16, all >= 1) of each level under a uniform prior: the
    share of the prior each level's rounding bin covers; levels outside the prior get 1."""
    low, high = prior_range
    centers = step * (k_min + np.arange(levels, dtype=np.float64))
    overlap = np.clip(np.minimum(centers + step / 2, high) - np.maximum(centers - step / 2, low),
                      0.0, None)
    total = 1 << TABLE_PRECISION
    if levels > total // 2:
        raise BitstreamError(f"{levels} levels are too many for a {TABLE_PRECISION}-bit table")
    share = overlap / overlap.sum() if overlap.sum() > 0 else np.full(levels, 1.0 / levels)
    freqs = 1 + np.floor(share * (total - levels)).astype(np.int64)
    freqs[np.argmax(freqs)] += total - freqs.sum()
    return freqs


def _lookup(freqs: np.ndarray) -> np.ndarray:
    return np.concatenate([[TABLE_PRECISION, 0], np.cumsum(freqs)]).astype(np.int32)[None]


def _range_encode(symbols: np.ndarray, freqs: np.ndarray) -> bytes:
    import tensorflow as tf
    import tensorflow_compression as tfc

    lookup = tf.constant(_lookup(freqs))
    values = tf.constant(symbols.astype(np.int32)[None])
    handle = tfc.create_range_encoder([1], lookup)
    handle = tfc.entropy_encode_index(handle, tf.zeros_like(values), values)
    return bytes(tfc.entropy_encode_finalize(handle).numpy()[0])


def _range_decode(payload: bytes, freqs: np.ndarray, count: int) -> np.ndarray:
    import tensorflow as tf

    from tfgc.coding.backends import get_backend

    backend = get_backend("tfc")
    state = backend.create(tf.constant([payload]), tf.constant(_lookup(freqs)))
    state, symbols = backend.decode_block(state, tf.zeros([1, count], tf.int32))
    if not bool(backend.finalize(state)):
        raise reader_error("payload", "the range-coded symbols end early")
    return symbols.numpy()[0]


def encode_file(code: LatentCode, *, fingerprint: bytes, image_shape: tuple[int, int],
                prior_range: tuple[float, float], coder: str = "range",
                model_fingerprint: bytes | None = None) -> bytes:
    """model_fingerprint: the GC model of a prior + G generator (a version-2 file)."""
    if coder not in CODERS:
        raise ValueError(f"unknown coder {coder!r}; choose from {sorted(CODERS)}")
    symbols = np.asarray(code.symbols).ravel()
    if symbols.min() < 0 or symbols.max() >= code.levels or code.levels > MAX_LEVELS:
        raise ValueError(f"symbols must be in 0..{code.levels - 1} (levels <= {MAX_LEVELS})")
    if coder == "bzip2":
        if code.levels > 256:
            raise ValueError("bzip2 mode stores symbols as bytes: at most 256 levels")
        payload = bz2.compress(symbols.astype(np.uint8).tobytes(), 9)
    else:
        payload = _range_encode(symbols, prior_table(code.step, code.k_min, code.levels,
                                                     prior_range))
    version = 1 if model_fingerprint is None else PRIOR_VERSION
    header = _HEADER.pack(MAGIC, version, CODERS[coder], fingerprint, image_shape[0],
                          image_shape[1], symbols.size, code.step, code.k_min, code.levels,
                          len(payload)) + (model_fingerprint or b"")
    body = header + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parse_header(data: bytes, *, fingerprint: bytes | None = None,
                 model_fingerprint: bytes | None = None,
                 image_shape: tuple[int, int] | None = None, latent_size: int | None = None,
                 max_pixels: int | None = None) -> ReversalHeader:
    """The validated header of a `.tfgz` file, checked in the order of `CHECKS`.

    The optional arguments are the decoding generator's facts (another generator's file
    raises ModelMismatchError; with `fingerprint`, `model_fingerprint` None means a generator
    SavedModel, else a prior + G generator) and the caller's decode-size policy (an image
    above `max_pixels` raises ResourceLimitError before anything is decoded)."""
    data = bytes(data)
    if not data:
        raise reader_error("empty", "the file is empty")
    if data[:4] != MAGIC[:min(4, len(data))]:
        raise reader_error("magic", f"wrong magic bytes {data[:4]!r} (expected {MAGIC!r})")
    if len(data) >= 5 and data[4] > VERSION:
        raise reader_error(
            "version", f"this reversal file has format version {data[4]}; this tfgc reads up "
            f"to {VERSION}: upgrade tfgc")
    if len(data) < _HEADER.size + 4:
        raise reader_error("truncated", f"truncated ({len(data)} bytes)")
    (_, version, coder, file_fingerprint, height, width, size, step, k_min, levels,
     payload) = _HEADER.unpack_from(data)
    start = header_bytes(version)
    if len(data) != start + payload + 4:
        raise reader_error("truncated", f"{len(data)} bytes, the header says "
                           f"{start + payload + 4} (truncated or padded)")
    if struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        raise reader_error("crc", "CRC mismatch (the file is corrupted)")
    names = {v: k for k, v in CODERS.items()}
    if (coder not in names or not 0 < size <= MAX_LATENT_SIZE or not 0 < levels <= MAX_LEVELS
            or not (step > 0 and np.isfinite(step)) or version < 1 or not height or not width):
        raise reader_error("fields", "impossible header fields")
    file_model = data[HEADER_BYTES:start] if version >= PRIOR_VERSION else None
    if fingerprint is not None:
        _check_identity(file_fingerprint, file_model, fingerprint, model_fingerprint)
    if image_shape is not None and (height, width) != tuple(image_shape):
        raise reader_error("shape", f"the file holds a {width}x{height} image, the generator "
                           f"makes {image_shape[1]}x{image_shape[0]}")
    if latent_size is not None and size != latent_size:
        raise reader_error("shape", f"the file holds {size} z values, the generator takes "
                           f"{latent_size}")
    if max_pixels is not None and height * width > max_pixels:
        raise reader_error("pixels", pixel_limit_message(height, width, max_pixels))
    return ReversalHeader(version, names[coder], file_fingerprint, height, width, size, step,
                          k_min, levels, payload, file_model)


def check_generator_kind(header: ReversalHeader, prior_and_g: bool) -> None:
    """The first part of the "fingerprint" check, before any generator is loaded: a file of
    a generator SavedModel (version 1) or of a code prior + G (version 2)."""
    _check_kind(header.fingerprint, header.model_fingerprint, prior_and_g)


def _check_kind(file_fingerprint: bytes, file_model: bytes | None, prior_and_g: bool) -> None:
    if file_model is None and prior_and_g:
        raise reader_error(
            "fingerprint", f"this file was made by generator SavedModel "
            f"{file_fingerprint.hex()}, not by a code prior + GC model: decode it with "
            "--generator GENERATOR_DIR, without --prior")
    if file_model is not None and not prior_and_g:
        raise reader_error(
            "fingerprint", f"this file was made by code prior {file_fingerprint.hex()} with "
            f"the G of GC model {file_model.hex()}, not by a generator SavedModel: decode it "
            "with --prior PRIOR_DIR --generator MODEL_DIR")


def _check_identity(file_fingerprint: bytes, file_model: bytes | None, fingerprint: bytes,
                    model_fingerprint: bytes | None) -> None:
    """The "fingerprint" check: the kind of generator, then the prior (or generator), then G."""
    _check_kind(file_fingerprint, file_model, model_fingerprint is not None)
    if file_fingerprint != fingerprint:
        what = "generator" if file_model is None else "code prior"
        raise reader_error(
            "fingerprint", f"this file was made by {what} {file_fingerprint.hex()}, not by "
            f"this one ({fingerprint.hex()}): decode it with the {what} that made it")
    if file_model is not None and file_model != model_fingerprint:
        raise reader_error(
            "fingerprint", f"this file was made with the G of GC model {file_model.hex()}, "
            f"not of model {model_fingerprint.hex()}: decode it with the model the prior was "
            "trained on")


def decode_file(data: bytes, *, fingerprint: bytes, prior_range: tuple[float, float],
                model_fingerprint: bytes | None = None,
                image_shape: tuple[int, int] | None = None, latent_size: int | None = None,
                max_pixels: int | None = None) -> tuple[LatentCode, ReversalHeader]:
    """The quantised z of a `.tfgz` file; every check of `CHECKS` that applies, in order."""
    header = parse_header(data, fingerprint=fingerprint, model_fingerprint=model_fingerprint,
                          image_shape=image_shape, latent_size=latent_size,
                          max_pixels=max_pixels)
    start = header.header_bytes
    payload = data[start:start + header.payload_bytes]
    if header.coder == "bzip2":
        try:
            raw = bz2.decompress(payload)
        except (OSError, ValueError):
            raise reader_error("payload", "bad bzip2 payload") from None
        symbols = np.frombuffer(raw, np.uint8).astype(np.int32)
        if symbols.size != header.latent_size:
            raise reader_error("payload", "wrong number of symbols")
    else:
        freqs = prior_table(header.step, header.k_min, header.levels, prior_range)
        symbols = _range_decode(payload, freqs, header.latent_size)
    if symbols.max() >= header.levels:
        raise reader_error("payload", "a symbol is out of range")
    return LatentCode(symbols, header.step, header.k_min, header.levels), header
