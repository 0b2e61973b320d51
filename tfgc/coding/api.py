"""The two calls the model side needs: symbols -> `.tfgc` bytes and back.

Both work the same way in two settings, with the same graph code:
* inside a `tf.function` (the model's exported signatures): they add ops to that graph;
* called eagerly (Python API): they validate the inputs in Python first (a bad file raises
  a precise `tfgc.errors` exception), then run a cached `tf.function` of the same code, so
  Python and SavedModel give byte-identical files by construction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfgc.coding import format as fmt
from tfgc.coding.backends import RangeDecoderBackend, get_backend
from tfgc.coding.decoder import decode_graph
from tfgc.coding.encoder import EncoderConfig, encode_graph, make_config
from tfgc.coding.tables import parse_table_section_np
from tfgc.errors import ConfigError, TfgcError

DEFAULT_STRIDE = 16


def _in_graph() -> bool:
    return not tf.executing_eagerly()


def _fingerprint_tensor(fingerprint, decoder_fingerprint=None) -> tf.Tensor:
    """The model's identities as one string for the graphs: F (16 bytes), or F then D (32
    bytes) when files that do not use the model tables carry the decoder fingerprint D."""
    if decoder_fingerprint is not None:
        decoder_fingerprint = _fingerprint_bytes(decoder_fingerprint)
    if isinstance(fingerprint, (bytes, bytearray)) or (
            isinstance(fingerprint, tf.Tensor) and not _in_graph()):
        return tf.constant(_fingerprint_bytes(fingerprint) + (decoder_fingerprint or b""))
    if decoder_fingerprint is not None:
        raise ValueError("with decoder_fingerprint, pass the fingerprint as bytes")
    return tf.convert_to_tensor(fingerprint, tf.string)  # checked by the graph's asserts


def _fingerprint_bytes(fingerprint) -> bytes:
    if isinstance(fingerprint, tf.Tensor):
        fingerprint = fingerprint.numpy()
    return fmt.check_fingerprint(fingerprint)


@functools.lru_cache(maxsize=32)
def _encode_function(config: EncoderConfig):
    spec = [tf.TensorSpec([None, None, config.num_channels], tf.int32),
            tf.TensorSpec([2], tf.int64), tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int64)]
    names = []
    if config.selective:
        spec += [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.string)]
        names += ["preserve_mask", "label_map_png"]
    if config.colour_offset:
        spec.append(tf.TensorSpec([fmt.COLOUR_OFFSET_BYTES], tf.int32))
        names.append("colour_offset")

    def run(symbols, image_shape, padding, fingerprint, noise_seed, *extra):
        return encode_graph(symbols, image_shape, padding, fingerprint, noise_seed, config,
                            **dict(zip(names, extra)))

    return tf.function(run, input_signature=spec, autograph=False)


@tf.autograph.experimental.do_not_convert  # graph code with explicit loops; converting it is slow
def encode_symbols(
    symbols,
    *,
    num_centers: int,
    image_shape,
    fingerprint,
    padding=None,
    stride: int = DEFAULT_STRIDE,
    noise_seed=0,
    model_tables: np.ndarray | None = None,
    entropy_models: str | Sequence[int | str] = "auto",
    backend: str = "tfc",
    preserve_mask=None,
    label_map_png=None,
    decoder_fingerprint=None,
    colour_offset=None,
) -> tf.Tensor:
    """The `.tfgc` file (scalar tf.string) for one image's quantizer symbols.

    symbols: int32 [h, w, C], values 0..num_centers-1, C known statically.
    image_shape: (H, W) of the original image; padding: (bottom, right) added before the
    encoder, default h * stride - H, w * stride - W. fingerprint: the model's 16 bytes.
    noise_seed: uint32 stored for the generator's noise. model_tables: from
    `fit_model_tables`, stored in the model. entropy_models: "auto" (every candidate, the
    smallest file wins) or a list of structures 0..4 (tables in the file) and/or "model".
    backend: range encoder, "tfc" (custom ops) or "stock" (stock TF ops only, for graphs
    that must run without tfc); the bytes are the same. preserve_mask (int [h, w], nonzero =
    coded) and label_map_png (PNG bytes, 8-bit gray, H x W) together make a selective (SC)
    file: only preserved symbols cost bits (docs/bitstream.md). decoder_fingerprint: written
    instead of `fingerprint` on files that do not use the model tables, so any model with the
    same decoder weights reads them (docs/bitstream.md, "Model identity").
    colour_offset: int [3], R G B in -128..127 8-bit levels that the decoder adds to its
    output; stored (as the optional colour-offset section) only when a channel is not 0.
    """
    symbols = tf.convert_to_tensor(symbols)
    if symbols.shape.rank != 3 or symbols.shape[2] is None:
        raise ValueError(f"symbols must be [h, w, C] with a static C, got shape {symbols.shape}")
    selective = preserve_mask is not None
    if selective != (label_map_png is not None):
        raise ValueError("a selective file needs both preserve_mask and label_map_png")
    config = make_config(int(num_centers), int(symbols.shape[2]), model_tables, entropy_models,
                         backend, selective, colour_offset is not None)
    extra = ((tf.cast(preserve_mask, tf.int32), tf.reshape(tf.convert_to_tensor(
        label_map_png, tf.string), [])) if selective else ())
    if colour_offset is not None:
        colour_offset = tf.reshape(tf.cast(colour_offset, tf.int32), [fmt.COLOUR_OFFSET_BYTES])
        extra += (colour_offset,)
    symbols = tf.cast(symbols, tf.int32)
    latent_hw = tf.shape(symbols, out_type=tf.int64)[:2]
    image_shape = tf.cast(tf.reshape(image_shape, [2]), tf.int64)
    padding = (latent_hw * stride - image_shape if padding is None
               else tf.cast(tf.reshape(padding, [2]), tf.int64))
    fingerprint = _fingerprint_tensor(fingerprint, decoder_fingerprint)
    noise_seed = tf.cast(noise_seed, tf.int64)
    if _in_graph():
        return encode_graph(symbols, image_shape, padding, fingerprint, noise_seed, config,
                            *extra[:2 if selective else 0], colour_offset=colour_offset)
    _check_encode_args(symbols.numpy(), num_centers, image_shape.numpy(), padding.numpy(),
                       int(noise_seed))
    if selective:
        if tuple(extra[0].shape) != tuple(symbols.shape[:2]):
            raise ValueError(f"preserve_mask must be the latent's h x w "
                             f"{tuple(symbols.shape[:2])}, got {tuple(extra[0].shape)}")
        fmt.check_label_map_png(extra[1].numpy(), *image_shape.numpy())
    if colour_offset is not None:
        values = colour_offset.numpy()
        if values.min() < fmt.MIN_COLOUR_OFFSET or values.max() > fmt.MAX_COLOUR_OFFSET:
            raise ValueError(f"colour_offset must be in {fmt.MIN_COLOUR_OFFSET}.."
                             f"{fmt.MAX_COLOUR_OFFSET}, got {values.tolist()}")
    return _encode_function(config)(symbols, image_shape, padding, fingerprint, noise_seed,
                                    *extra)


def _check_encode_args(symbols: np.ndarray, num_centers: int, image_shape: np.ndarray,
                       padding: np.ndarray, noise_seed: int) -> None:
    """The graph's asserts again, as ValueErrors that name the bad argument."""
    h, w, c = symbols.shape
    if h < 1 or w < 1:
        raise ValueError(f"symbols must be non-empty, got shape {symbols.shape}")
    if h * w * c > fmt.MAX_LATENT_ELEMENTS or w * c > fmt.MAX_ROW_SYMBOLS:
        raise ValueError(f"latent {h}x{w}x{c} exceeds the format's limits of "
                         f"{fmt.MAX_LATENT_ELEMENTS} elements, {fmt.MAX_ROW_SYMBOLS} per row")
    if symbols.min() < 0 or symbols.max() >= num_centers:
        raise ValueError(f"symbols must be in 0..{num_centers - 1}, got "
                         f"{symbols.min()}..{symbols.max()}")
    if not all(1 <= s <= fmt.MAX_IMAGE_SIDE for s in image_shape):
        raise ValueError(f"image sides must be 1..{fmt.MAX_IMAGE_SIDE}, got {image_shape}")
    if not all(0 <= p <= fmt.MAX_IMAGE_SIDE for p in padding):
        raise ValueError(f"padding must be 0..{fmt.MAX_IMAGE_SIDE}, got {padding}")
    padded = image_shape + padding
    if padded[0] % h or padded[1] % w or padded[0] // h != padded[1] // w:
        raise ValueError(f"image {image_shape} + padding {padding} is not latent {h}x{w} times "
                         "one stride")
    if not 0 <= noise_seed < 1 << 32:
        raise ValueError(f"noise_seed must be a uint32, got {noise_seed}")


@functools.lru_cache(maxsize=32)
def _decode_function(backend: RangeDecoderBackend, num_centers: int | None,
                     num_channels: int | None, stride: int | None,
                     selective: bool | None = None):
    def run(data, fingerprint, model_tables, max_pixels):
        return decode_graph(data, fingerprint, backend, model_tables, num_centers, num_channels,
                            stride, max_pixels, selective)

    spec = [tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string),
            tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int64)]
    return tf.function(run, input_signature=spec, autograph=False)


@tf.autograph.experimental.do_not_convert
def decode_symbols(
    bitstring,
    *,
    fingerprint,
    model_tables: np.ndarray | None = None,
    backend: str | RangeDecoderBackend = "tfc",
    num_centers: int | None = None,
    num_channels: int | None = None,
    decoder_fingerprint=None,
    stride: int | None = None,
    max_pixels: int | None = None,
    selective: bool | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Symbols int32 [h, w, C] and the header fields (int64 scalar tensors) of a `.tfgc` file.

    backend: "tfc" (custom ops) or "stock" (stock TF ops only; same symbols). num_centers /
    num_channels / stride: the model's values; a file that differs raises ModelMismatchError
    (BitstreamError for the stride; the symbols get a static channel dimension). max_pixels:
    refuse (ResourceLimitError) a file whose image has more pixels, before decoding anything
    (an int, or an int64 tensor inside a graph). Header keys: version, flags, image_height,
    image_width, pad_bottom, pad_right, latent_height, latent_width, channels, num_centers,
    entropy_model, noise_seed, payload_bytes, file_bytes, colour_offset (int64 [3], the R G B
    levels the decoder adds to its output; zeros without that section). decoder_fingerprint:
    also accepted on files that do not use the model tables (see `encode_symbols`).
    selective: whether the model is a selective-compression (SC) one; a file of the other
    kind raises ModelMismatchError saying so (None: not checked).
    """
    backend = get_backend(backend)
    if _in_graph():
        return decode_graph(bitstring, _fingerprint_tensor(fingerprint, decoder_fingerprint),
                            backend, model_tables, num_centers, num_channels, stride, max_pixels,
                            selective)
    data = bitstring.numpy() if isinstance(bitstring, tf.Tensor) else bytes(bitstring)
    fingerprint = _fingerprint_bytes(fingerprint)
    if decoder_fingerprint is not None:
        decoder_fingerprint = _fingerprint_bytes(decoder_fingerprint)
    if model_tables is not None:
        model_tables = np.asarray(model_tables)
        if model_tables.ndim != 2:
            raise ValueError(f"model tables must be 2-D, got shape {model_tables.shape}")
    validate_file(data, fingerprint=fingerprint, model_tables=model_tables,
                  num_centers=num_centers, num_channels=num_channels,
                  decoder_fingerprint=decoder_fingerprint, stride=stride, max_pixels=max_pixels,
                  selective=selective)
    tables = np.zeros((0, 0), np.int32) if model_tables is None else model_tables.astype(np.int32)
    function = _decode_function(backend, num_centers, num_channels, stride, selective)
    limit = fmt.NO_PIXEL_LIMIT if max_pixels is None else int(max_pixels)
    try:
        return function(tf.constant(data), tf.constant(fingerprint + (decoder_fingerprint or b"")),
                        tf.constant(tables), tf.constant(limit, tf.int64))
    except tf.errors.InvalidArgumentError as e:  # a check the Python validation does not repeat
        raise error_from_graph(e) from None


def error_from_graph(error: tf.errors.InvalidArgumentError, file_format=fmt) -> TfgcError:
    """The tfgc exception for a failed assert of a tfgc graph (e.g. from a SavedModel): the
    same class the Python API raises for that check (`format.CHECKS`, and
    `format.INPUT_CHECKS` for what an SC model's compress and synthesis are given). An input
    of the wrong dtype, refused by a signature before its graph runs, is a ConfigError.

    file_format: a module with the format's CHECKS, GRAPH_PREFIX and reader_error
    (`tfgc.coding.format`; `tfgc.reversal.fileformat` for `.tfgz` files)."""
    found = re.search(r"assertion failed: (.*)", error.message, re.DOTALL)
    pieces = re.findall(r"\[([^\]]*)\]", found.group(1)) if found else []
    # TF appends "[[{{node ...}}]]" and "[Op:...]" after the assert's own data.
    message = " ".join(p.strip() for p in pieces if not p.startswith(("[", "{{", "Op:")))
    for prefix, checks, make in ((file_format.GRAPH_PREFIX, file_format.CHECKS,
                                  file_format.reader_error),
                                 (fmt.INPUT_PREFIX, fmt.INPUT_CHECKS, fmt.input_error)):
        named = re.match(re.escape(prefix) + r"(\w+): *(.*)", message, re.DOTALL)
        if named and named.group(1) in checks:
            return make(named.group(1), named.group(2))
    dtype = re.search(r"input #(\d+).* expected to be an? (\w+) tensor but is an? (\w+) tensor",
                      error.message)
    if dtype:  # refused by the signature before any graph ran (the API: ConfigError too)
        return ConfigError(f"input #{dtype.group(1)} must be a {dtype.group(2)} tensor, got "
                           f"{dtype.group(3)}")
    # An unnamed failure (e.g. inside the range decoder): the payload is bad.
    return file_format.reader_error("payload", error.message.strip())


def validate_file(data: bytes, *, fingerprint: bytes | None = None,
                  model_tables: np.ndarray | None = None, num_centers: int | None = None,
                  num_channels: int | None = None,
                  decoder_fingerprint: bytes | None = None, stride: int | None = None,
                  max_pixels: int | None = None, selective: bool | None = None) -> fmt.Header:
    """Everything `decode_symbols` checks before decoding, in Python and in the same order
    (`format.CHECKS`); returns the header. The one check left to the decode graph is the
    payload's (it needs the range decoder)."""
    header = fmt.parse_header(data, fingerprint, decoder_fingerprint, stride=stride,
                              num_centers=num_centers, num_channels=num_channels,
                              max_pixels=max_pixels, selective=selective)
    if header.model_tables:
        if model_tables is None:
            raise fmt.reader_error(
                "model_tables", "this file was coded with the model's context tables; pass "
                "model_tables= (the model's stored tables) to decode it")
        expected = (header.num_contexts, header.num_centers)
        canonical = fmt.CANONICAL_STRUCTURE[len(fmt.STRUCTURES[header.structure])]
        if tuple(np.shape(model_tables)) != expected or canonical != header.structure:
            raise fmt.reader_error(
                "model_tables", f"this file needs model tables of shape {expected} (structure "
                f"{header.structure}), got {np.shape(model_tables)}: it was made by another model")
    else:
        parse_table_section_np(
            data[header.tables_offset:header.tables_offset + header.tables_size],
            header.channels, header.num_centers, header.structure, header.latent_width,
            header.precision_base, header.precision_step)
    return header


def parse_header(data: bytes) -> fmt.Header:
    """The validated header of a `.tfgc` file (no fingerprint check)."""
    return fmt.parse_header(data)


def header_size(data: bytes) -> int:
    """Bytes of a `.tfgc` file that are not range-coded symbols (header, tables, CRC)."""
    return fmt.header_size(data)
