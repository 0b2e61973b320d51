"""The inference graphs of a trained model, as `tf.Module`s that the Python codec calls and
that `export.py` saves. One implementation for both, so Python and SavedModel outputs are
identical by construction.

`CodecModule` compresses and decompresses with tfc's range coder (custom ops). `StockModule`
holds only stock-TF functions (analysis, synthesis, and compress / decompress with a range
encoder and decoder written in stock ops, byte-identical to tfc's): nothing reachable from it
may use a tfc op, or stock TF Serving could not load it. Selective-compression (SC) models use
the `Selective*` variants, whose compress (and stock synthesis) also take the label map (train
ids) and the preservation mask; their decompress reads both from the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfgc import coding
from tfgc.coding import bitops
from tfgc.coding.format import (
    LABEL_IDS_TEMPLATE,
    LABEL_SECTION_TEMPLATE,
    graph_tag,
    size_mismatch_template,
)
from tfgc.data.padding import edge_pad, edge_padded_rows
from tfgc.export import colour_offset as colour
from tfgc.networks import CodecNetworks
from tfgc.networks.semantic import one_hot_labels
from tfgc.semantic import masks
from tfgc.semantic.labels import IGNORE

# Serving signatures refuse images above this many pixels (the Python API's default too).
DEFAULT_MAX_PIXELS = coding.format.DEFAULT_MAX_PIXELS
_function = functools.partial(tf.function, autograph=False)
DECODER_FINGERPRINT_TAG = b"tfgc-decoder-fingerprint-v2"
MODEL_TABLES_FINGERPRINT_TAG = b"tfgc-model-tables-fingerprint-v2"


def decoder_fingerprint(networks: CodecNetworks) -> bytes:
    """D: 16 bytes naming what decoding needs besides the file, the architecture (model
    config) and the weights synthesis reads (G, SC's F). E is not part of it: any encoder that
    writes these symbols makes files this decoder reads (docs/bitstream.md, Model identity)."""
    digest = hashlib.sha256(DECODER_FINGERPRINT_TAG)
    digest.update(config_to_json(networks.model_config).encode("utf-8"))
    for weight in networks.synthesis_variables:
        digest.update(np.ascontiguousarray(weight.numpy(), dtype="<f4").tobytes())
    return digest.digest()[:16]


def model_fingerprint(decoder: bytes, model_tables: np.ndarray | None) -> bytes:
    """F: D itself for a model without context tables, else D and the tables hashed together;
    files coded with the model's tables carry F, all others D."""
    if model_tables is None:
        return decoder
    tables = np.ascontiguousarray(model_tables, dtype="<i4")
    digest = hashlib.sha256(MODEL_TABLES_FINGERPRINT_TAG + decoder)
    digest.update(np.asarray(tables.shape, "<i4").tobytes() + tables.tobytes())
    return digest.digest()[:16]


def png_bytes(image: tf.Tensor) -> tf.Tensor:
    """PNG of one decoded image (scalar string). zlib level 1: the default level took ~40% of
    a serving decompress (bench/serving_latency.py) for files no smaller."""
    return tf.io.encode_png(image, compression=1)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)


BATCH_SIZES_DIFFER = ("tfgc batch: the files decode to images of different sizes, which cannot "
                      "share one `image` tensor; use the decompress_png signature (png_bytes "
                      "only) or one file per request")


def latent_mask(preserve_mask: tf.Tensor, stride: int) -> tf.Tensor:
    """An SC pixel preservation mask [H, W] -> the latent mask [h, w] (int32) a file stores."""
    pixels = tf.cast(edge_pad(preserve_mask[..., tf.newaxis], stride) > 0, tf.float32)
    return tf.cast(masks.to_latent(pixels[tf.newaxis], stride)[0, ..., 0], tf.int32)


def _checked(checks, *tensors):
    """`tensors` once every (condition, check, template, *values) in `checks` holds, tested in
    order (the first failure is reported). Each fails under its name in
    `format.INPUT_CHECKS`, so `error_from_graph` gives a SavedModel client the API's class."""
    done: list[tf.Operation] = []
    for condition, check, template, *values in checks:
        with tf.control_dependencies(done[-1:]):
            done.append(tf.debugging.Assert(condition, [
                graph_tag(check), bitops.format_message(template, *values)]))
    with tf.control_dependencies(done):
        return [tf.identity(t) for t in tensors]


def _size(shape: tf.Tensor) -> tf.Tensor:
    """'WxH' of [..., H, W] ('N of WxH' with a batch dimension), as in the API's messages."""
    text = tf.strings.join([tf.strings.as_string(shape[-1]), "x",
                            tf.strings.as_string(shape[-2])])
    if shape.shape[0] == 3:
        text = tf.strings.join([tf.strings.as_string(shape[0]), " of ", text])
    return text


def _train_ids_check(label_map: tf.Tensor, num_classes: int, check: str, template: str):
    """(condition, check, template, *values): every train id is 0..num_classes-1 or 255; the
    message names the largest id that is not."""
    ids = tf.cast(label_map, tf.int32)
    bad = tf.logical_and(ids >= num_classes, ids != IGNORE)
    return (tf.logical_not(tf.reduce_any(bad)), check, template,
            tf.reduce_max(tf.where(bad, ids, 0)), num_classes - 1)


def _label_map_checks(label_map: tf.Tensor, size: tf.Tensor, num_classes: int,
                      reference: str = "the image", what: str = "label map"):
    """The API's label-map checks (`semantic.inputs.read_label_map`): train ids [..., H, W] of
    `size`, each 0..num_classes-1 or 255."""
    shape = tf.shape(label_map)
    return [(tf.reduce_all(tf.equal(shape, size)), "label_map_size",
             size_mismatch_template(what, reference), _size(shape), _size(size)),
            _train_ids_check(label_map, num_classes, "label_map_ids", LABEL_IDS_TEMPLATE)]


def _mask_check(mask: tf.Tensor, size: tf.Tensor, what: str = "preserve mask",
                reference: str = "the image"):
    shape = tf.shape(mask)
    return [(tf.reduce_all(tf.equal(shape, size)), "preserve_mask_size",
             size_mismatch_template(what, reference), _size(shape), _size(size))]


def _map(fn, elems, signature):
    """fn over the batch dimension of `elems`: N items in, N results out (N may be 0)."""
    return tf.map_fn(fn, elems, fn_output_signature=signature, parallel_iterations=1)


_IMAGES = tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")
_BITSTRINGS = tf.TensorSpec([None], tf.string, name="bitstring")
_IMAGE = tf.TensorSpec([None, None, 3], tf.uint8)
_INDEX = tf.TensorSpec([], tf.int32)
_SEED = tf.TensorSpec([], tf.int64)
_LABEL_MAP = tf.TensorSpec([None, None], tf.uint8)
_FEATURES = tf.TensorSpec([1, None, None, None], tf.float32)
_OFFSET = tf.TensorSpec([3], tf.int32)


class _CodecGraphs(tf.Module):
    """The graphs both exports share, around one `CodecNetworks` (E, q, G: no D)."""

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprints: tuple[bytes, bytes | None] | None = None):
        """fingerprints: (F, D) to keep those of an existing export (D None: an export from
        before model identity v2, whose files all carry F); default: computed."""
        super().__init__()
        self.networks = networks
        self._tables = None if model_tables is None else np.asarray(model_tables, np.int32)
        if fingerprints is None:
            decoder = decoder_fingerprint(networks)
            fingerprints = (model_fingerprint(decoder, self._tables), decoder)
        self._fingerprint, self._decoder_fingerprint = fingerprints
        # Variables, so that a loaded SavedModel tells its fingerprints, tables and config.
        self.fingerprint = tf.Variable(self._fingerprint, trainable=False, name="fingerprint")
        self.decoder_fingerprint = tf.Variable(self._decoder_fingerprint or b"",
                                               trainable=False, name="decoder_fingerprint")
        self.config_json = tf.Variable(config_to_json(networks.model_config), trainable=False,
                                       name="config_json")
        self.num_centers = tf.Variable(networks.num_centers, trainable=False, name="num_centers")
        self.num_channels = tf.Variable(networks.num_channels, trainable=False,
                                        name="num_channels")
        self.noise_channels = tf.Variable(networks.noise_channels, trainable=False,
                                          name="noise_channels")
        self.stride = tf.Variable(networks.stride, trainable=False, name="stride")
        tables = self._tables if self._tables is not None else np.zeros([0, 0], np.int32)
        self.model_tables = tf.Variable(tables, trainable=False, name="model_tables")
        # Functions the graphs below call rather than inline, so that a SavedModel holds G
        # once for compress (the colour offset), decompress and the tile functions.
        symbols = tf.TensorSpec([None, None, networks.num_channels], tf.int32)
        self.synthesis_features = _function(self._synthesis_features, input_signature=[
            symbols, _SEED, _LABEL_MAP, tf.TensorSpec([None, None], tf.int32)])
        self.synthesis_levels = _function(self._synthesis_levels,
                                          input_signature=[_FEATURES, _INDEX])
        self.synthesis_tile = _function(self._synthesis_tile,
                                        input_signature=[_FEATURES, _INDEX, _OFFSET])
        self.colour_offset = _function(self._colour_offset, input_signature=[
            _IMAGE, symbols, _SEED, _LABEL_MAP, _LABEL_MAP])

    # Compress = encode(analysis tiles), decompress = synthesis tiles of decode: the
    # single-call functions run the tiles in a graph loop; a caller may drive the same tiles
    # one call at a time instead (`_ServingModule.analysis_tile`, ...).
    def _analysis_tiles(self, image: tf.Tensor):
        """The encoder's tiles over uint8 [H, W, 3] and their rows function: latent rows
        [first, last) of the edge-padded image -> int32 symbols [1, last - first, w, C]."""
        stride = self.networks.stride
        latent = (tf.shape(image)[:2] + stride - 1) // stride

        def rows(first, last):
            pixels = edge_padded_rows(image, stride * first, stride * last, stride)
            return self.networks.analysis(tf.cast(pixels, tf.float32)[tf.newaxis] / 255.0)

        return self.networks.analysis_tiles(latent[0], latent[1]), rows

    def _analysis(self, image: tf.Tensor) -> tf.Tensor:
        """uint8 [H, W, 3] -> int32 symbols [h, w, C] of the edge-padded image."""
        tiles, rows = self._analysis_tiles(image)
        return tiles.map(rows, tf.int32)

    def _checked_selective(self, image_size: tf.Tensor, label_map: tf.Tensor,
                           preserve_mask: tf.Tensor) -> list[tf.Tensor]:
        size = tf.cast(image_size, tf.int32)
        return _checked(_label_map_checks(label_map, size, self.networks.condition_channels)
                        + _mask_check(preserve_mask, size), label_map, preserve_mask)

    def _encode(self, symbols: tf.Tensor, image_size: tf.Tensor, noise_seed: tf.Tensor,
                backend: str, label_map: tf.Tensor | None = None,
                preserve_mask: tf.Tensor | None = None,
                colour_offset: tf.Tensor | None = None) -> tf.Tensor:
        """int32 symbols [h, w, C] of an image of `image_size` [2] (SC: + uint8 train ids
        and pixel mask [H, W]) and the colour offset (int32 [3]; zeros or None: none) -> the
        `.tfgc` file (scalar string); same bytes either backend."""
        selective = {}
        if self.networks.mode == "sc":
            label_map, preserve_mask = self._checked_selective(image_size, label_map,
                                                               preserve_mask)
            selective = {"preserve_mask": latent_mask(preserve_mask, self.networks.stride),
                         # zlib level 9: the label map is ~25% smaller than at the default
                         "label_map_png": tf.io.encode_png(label_map[..., tf.newaxis],
                                                           compression=9)}
        return coding.encode_symbols(
            symbols, num_centers=self.networks.num_centers, image_shape=image_size,
            fingerprint=self._fingerprint, stride=self.networks.stride, noise_seed=noise_seed,
            model_tables=self._tables, backend=backend, colour_offset=colour_offset,
            **selective)

    def _colour_offset(self, image: tf.Tensor, symbols: tf.Tensor, noise_seed: tf.Tensor,
                       label_map: tf.Tensor | None = None,
                       preserve_mask: tf.Tensor | None = None) -> tf.Tensor:
        """The colour offset (int32 [3]) that brings the decoded image's channel means
        nearest uint8 `image`'s [H, W, 3]: G runs once on `symbols`, tile by tile, and only
        a histogram of its levels is kept (`colour_offset.choose`)."""
        if self.networks.mode == "sc":
            label_map, preserve_mask = self._checked_selective(tf.shape(image)[:2], label_map,
                                                               preserve_mask)
            mask = latent_mask(preserve_mask, self.networks.stride)
        else:
            label_map = tf.zeros([0, 0], tf.uint8)
            mask = tf.ones(tf.shape(symbols)[:2], tf.int32)
        features = self.synthesis_features(symbols, noise_seed, label_map, mask)
        tiles = self.networks.synthesis_tiles(features)

        def add_tile(index, histogram, sums):
            tile = colour.tile_statistics(self.synthesis_levels(features, index), image,
                                          tiles.first_row(index))
            return index + 1, histogram + tile[0], sums + tile[1]

        _, histogram, sums = tf.while_loop(
            lambda index, *_: index < tiles.count(), add_tile,
            (tf.constant(0), tf.zeros([colour.CHANNELS, colour.NUM_LEVELS], tf.int64),
             tf.zeros([colour.CHANNELS], tf.int64)), parallel_iterations=1)
        return colour.choose(histogram, sums)

    def _compress(self, image: tf.Tensor, noise_seed: tf.Tensor, backend: str,
                  label_map: tf.Tensor | None = None,
                  preserve_mask: tf.Tensor | None = None) -> tf.Tensor:
        """uint8 [H, W, 3] (SC: + uint8 train ids and pixel mask [H, W]) -> the `.tfgc` file,
        with the colour offset."""
        symbols = self._analysis(image)
        no_labels = tf.zeros([0, 0], tf.uint8)
        offset = self.colour_offset(image, symbols, noise_seed,
                                    no_labels if label_map is None else label_map,
                                    no_labels if preserve_mask is None else preserve_mask)
        return self._encode(symbols, tf.shape(image)[:2], noise_seed, backend, label_map,
                            preserve_mask, offset)

    def _decode(self, bitstring: tf.Tensor, backend: str,
                max_pixels: tf.Tensor | int = DEFAULT_MAX_PIXELS) -> dict[str, tf.Tensor]:
        """A `.tfgc` file -> what synthesis needs: int32 `symbols` [h, w, C], int64
        `noise_seed`, int32 `image_size` [2], uint8 `label_map` [H, W] (SC; else [0, 0]),
        int32 `latent_mask` [h, w] (all ones unless SC) and int32 `colour_offset` [3]
        (zeros unless the file has one)."""
        symbols, header = coding.decode_symbols(
            bitstring, fingerprint=self._fingerprint,
            decoder_fingerprint=self._decoder_fingerprint, model_tables=self._tables,
            backend=backend, num_centers=self.networks.num_centers,
            num_channels=self.networks.num_channels, stride=self.networks.stride,
            max_pixels=max_pixels, selective=self.networks.mode == "sc")
        label_map = tf.zeros([0, 0], tf.uint8)
        if self.networks.mode == "sc":
            label_map = tf.io.decode_png(header["label_map_png"], channels=1)[..., 0]
            label_map, = _checked([_train_ids_check(label_map, self.networks.condition_channels,
                                                    "section", LABEL_SECTION_TEMPLATE)], label_map)
        size = tf.cast(tf.stack([header["image_height"], header["image_width"]]), tf.int32)
        return {"symbols": symbols, "noise_seed": header["noise_seed"], "image_size": size,
                "label_map": label_map, "latent_mask": header["preserve_mask"],
                "colour_offset": tf.cast(header["colour_offset"], tf.int32)}

    def _synthesis_features(self, symbols: tf.Tensor, noise_seed: tf.Tensor,
                            label_map: tf.Tensor, latent_mask: tf.Tensor) -> tf.Tensor:
        """`_decode`'s outputs -> G's trunk features [1, h, w, width] (float32). An SC
        model's label map stays uint8 train ids; F one-hot encodes it tile by tile."""
        train_ids = mask = None
        if self.networks.mode == "sc":
            train_ids = edge_pad(label_map[..., tf.newaxis], self.networks.stride)[..., 0]
            mask = tf.cast(latent_mask, tf.float32)[tf.newaxis, ..., tf.newaxis]
        return tf.cast(self.networks.synthesis_features(symbols[tf.newaxis], noise_seed,
                                                        train_ids, mask), tf.float32)

    def _synthesis_levels(self, features: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """G's output rows of tile `index` of `features` as rounded levels (int32,
        `colour_offset.output_levels`): what the decoder's pixels and the encoder's colour
        offset are both made from, so G's upsampling is traced once for both."""
        tiles = self.networks.synthesis_tiles(features)
        return tiles.tile(self.networks.synthesis_rows(features, finish=colour.output_levels),
                          index)

    def _synthesis_tile(self, features: tf.Tensor, index: tf.Tensor,
                        colour_offset: tf.Tensor) -> tf.Tensor:
        """Trunk features, tile index, the file's colour offset -> the tile's uint8 image
        rows (before cropping)."""
        return colour.to_pixels(self.synthesis_levels(features, index), colour_offset)

    def _decompress(self, bitstring: tf.Tensor, backend: str,
                    max_pixels: tf.Tensor | int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
        decoded = self._decode(bitstring, backend, max_pixels)
        features = self.synthesis_features(decoded["symbols"], decoded["noise_seed"],
                                           decoded["label_map"], decoded["latent_mask"])
        count = self.networks.synthesis_tiles(features).count()

        def add_tile(index, out):
            return index + 1, out.write(index, self.synthesis_tile(
                features, index, decoded["colour_offset"]))

        # parallel_iterations=1: one tile in flight, or the loop would hold several in memory.
        out = tf.TensorArray(tf.uint8, size=count, infer_shape=False,
                             element_shape=[None, None, 3])
        _, out = tf.while_loop(lambda index, _: index < count, add_tile, (tf.constant(0), out),
                               parallel_iterations=1)
        return out.concat()[:decoded["image_size"][0], :decoded["image_size"][1]]

    # Serving signatures: a real batch dimension N, named outputs, one result per item.
    def _compress_batch(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """uint8 [N, H, W, 3] (one size per request) -> N `.tfgc` files, noise seed 0."""
        seed = tf.constant(0, tf.int64)
        return {"bitstring_bytes": _map(lambda image: self.compress_one(image, seed), images,
                                        tf.TensorSpec([], tf.string))}

    def _decompress_pngs(self, bitstrings: tf.Tensor) -> dict[str, tf.Tensor]:
        return decompress_pngs(self.decompress_one, bitstrings)

    def _decompress_batch(self, bitstrings: tf.Tensor) -> dict[str, tf.Tensor]:
        return decompress_batch(self.decompress_one, bitstrings)


DecompressOne = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # file, max_pixels -> uint8 image


def decompress_pngs(decompress_one: DecompressOne, bitstrings: tf.Tensor
                    ) -> dict[str, tf.Tensor]:
    """N files -> N PNGs (a `decompress_png` signature: images of any sizes)."""
    limit = tf.constant(DEFAULT_MAX_PIXELS, tf.int64)
    return {"png_bytes": _map(lambda b: png_bytes(decompress_one(b, limit)),
                              bitstrings, tf.TensorSpec([], tf.string))}


def decompress_batch(decompress_one: DecompressOne, bitstrings: tf.Tensor
                     ) -> dict[str, tf.Tensor]:
    """N files -> N PNGs and, when all N images have one size, uint8 [N, H, W, 3] (a
    `decompress` signature); each file is decoded alone, so a batch never changes a picture."""
    limit = tf.constant(DEFAULT_MAX_PIXELS, tf.int64)

    def one(bitstring):
        image = decompress_one(bitstring, limit)
        return png_bytes(image), tf.shape(image)[:2], tf.reshape(image, [-1])

    pngs, sizes, pixels = _map(one, bitstrings, (
        tf.TensorSpec([], tf.string), tf.TensorSpec([2], tf.int32),
        tf.RaggedTensorSpec([None], tf.uint8, ragged_rank=0)))
    size = tf.reduce_max(tf.concat([sizes, tf.zeros([1, 2], tf.int32)], 0), axis=0)
    same = tf.debugging.Assert(tf.reduce_all(tf.equal(sizes, size)), [BATCH_SIZES_DIFFER])
    with tf.control_dependencies([same]):
        images = tf.reshape(pixels.flat_values,
                            tf.concat([tf.shape(bitstrings), size, [3]], 0))
    return {"image": images, "png_bytes": pngs}


class _ServingModule(_CodecGraphs):
    """The functions both exports hold, written once: `backend` picks the range coder."""

    backend: str  # "tfc" (tfc's custom ops) or "stock" (stock TF ops only)

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprints: tuple[bytes, bytes | None] | None = None):
        super().__init__(networks, model_tables, fingerprints)
        # The symbols' channel count is static: the range coder needs it.
        symbols = tf.TensorSpec([None, None, networks.num_channels], tf.int32)
        self.encode = _function(self._encode_tiles, input_signature=[
            symbols, tf.TensorSpec([2], tf.int32), _SEED, _LABEL_MAP, _LABEL_MAP, _OFFSET])

    @_function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                  tf.TensorSpec([], tf.int64)])
    def compress_one(self, image, noise_seed):
        return self._compress(image, noise_seed, self.backend)

    @_function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int64)])
    def decompress_one(self, bitstring, max_pixels):
        return self._decompress(bitstring, self.backend, max_pixels)

    @_function(input_signature=[_IMAGES])
    def compress(self, image):
        return self._compress_batch(image)

    @_function(input_signature=[_BITSTRINGS])
    def decompress(self, bitstring):
        return self._decompress_batch(bitstring)

    @_function(input_signature=[_BITSTRINGS])
    def decompress_png(self, bitstring):
        return self._decompress_pngs(bitstring)

    # compress_one and decompress_one in pieces, for a caller that drives the tiles itself
    # (the Python codec: a progress bar, one tile's activations alive at a time). The same
    # graph code and tiles, so the same bytes and pixels. Not serving signatures.
    @_function(input_signature=[_IMAGE])
    def analysis_tile_count(self, image):
        return self._analysis_tiles(image)[0].count()

    @_function(input_signature=[_IMAGE, _INDEX])
    def analysis_tile(self, image, index):
        """uint8 [H, W, 3], tile index -> int32 symbols of the tile's latent rows."""
        tiles, rows = self._analysis_tiles(image)
        return tiles.tile(rows, index)

    def _encode_tiles(self, symbols, image_size, noise_seed, label_map, preserve_mask,
                      colour_offset):
        """All tiles' symbols -> the file compress_one writes (label map and pixel mask:
        SC models; [0, 0] otherwise; colour offset: `colour_offset`'s, or zeros for none)."""
        return self._encode(symbols, image_size, noise_seed, self.backend, label_map,
                            preserve_mask, colour_offset)

    @_function(input_signature=[tf.TensorSpec([], tf.string), _SEED])
    def decode(self, bitstring, max_pixels):
        return self._decode(bitstring, self.backend, max_pixels)

    @_function(input_signature=[_FEATURES])
    def synthesis_tile_count(self, features):
        return self.networks.synthesis_tiles(features).count()


class CodecModule(_ServingModule):
    """compress / decompress with tfc's range coder; the Python `Codec` runs the `_one`s."""

    backend = "tfc"


class StockModule(_ServingModule):
    """Stock TF ops only (stock TF Serving, TFLite): analysis, synthesis, compress,
    decompress. Nothing reachable from it may use a tfc op."""

    backend = "stock"

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprints: tuple[bytes, bytes | None] | None = None):
        super().__init__(networks, model_tables, fingerprints)
        # The channel count is static in the signature, so G's first conv needs no
        # EnsureShape (which TFLite has no built-in op for).
        self.synthesis = _function(self._synthesis_batch, input_signature=[
            tf.TensorSpec([None, None, None, networks.num_channels], tf.uint8, name="symbols"),
            tf.TensorSpec([None], tf.int64, name="noise_seed")])

    @_function(input_signature=[_IMAGES])
    def analysis(self, image):
        """uint8 [N, H, W, 3] -> uint8 symbols [N, h, w, C] of the edge-padded images."""
        x = tf.cast(edge_pad(image, self.networks.stride), tf.float32) / 255.0
        return {"symbols": tf.cast(self.networks.analysis(x), tf.uint8)}

    def _synthesis_batch(self, symbols, noise_seed):
        """uint8 symbols [N, h, w, C], noise seeds [N] -> uint8 [N, stride*h, stride*w, 3].

        One untiled pass over the whole batch (a loop would not convert to TFLite built-in
        ops). TF picks conv kernels by batch size, which round floats differently, so for
        N > 1 a pixel may differ by 1 from the item's own call; `decompress` decodes item
        by item and matches the Python API exactly.
        """
        images = self.networks.synthesis(tf.cast(symbols, tf.int32), noise_seed)
        return {"image": to_uint8(images)}


def config_to_json(model_config) -> str:
    data = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
    return json.dumps(data, sort_keys=True, default=list)


_IMAGE_MAPS = [tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([], tf.int64),
               tf.TensorSpec([None, None], tf.uint8), tf.TensorSpec([None, None], tf.uint8)]
_SERVING_MAPS = [_IMAGES, tf.TensorSpec([None, None, None], tf.uint8, name="label_map"),
                 tf.TensorSpec([None, None, None], tf.uint8, name="preserve_mask")]


class _SelectiveCompress:
    """compress of an SC model: each image comes with its label map (train ids, 255 =
    ignored) and pixel preservation mask (nonzero = keep), [N, H, W] uint8 like the images."""

    @_function(input_signature=_IMAGE_MAPS)
    def compress_one(self, image, noise_seed, label_map, preserve_mask):
        return self._compress(image, noise_seed, self.backend, label_map, preserve_mask)

    @_function(input_signature=_SERVING_MAPS)
    def compress(self, image, label_map, preserve_mask):
        size = tf.shape(image)[:3]
        label_map, preserve_mask = _checked(
            _label_map_checks(label_map, size, self.networks.condition_channels,
                              "the image batch", "label map batch")
            + _mask_check(preserve_mask, size, "preserve mask batch", "the image batch"),
            label_map, preserve_mask)
        seed = tf.constant(0, tf.int64)
        return {"bitstring_bytes": _map(
            lambda item: self.compress_one(item[0], seed, item[1], item[2]),
            (image, label_map, preserve_mask), tf.TensorSpec([], tf.string))}


class SelectiveCodecModule(_SelectiveCompress, CodecModule):
    """CodecModule of an SC model: compress also takes `label_map` and `preserve_mask`."""


class SelectiveStockModule(_SelectiveCompress, StockModule):
    """StockModule of an SC model: compress takes `label_map` and `preserve_mask`; synthesis
    takes the label map and the latent mask ([N, h, w], as stored in the file)."""

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprints: tuple[bytes, bytes | None] | None = None):
        super().__init__(networks, model_tables, fingerprints)
        self.synthesis = _function(self._selective_synthesis_batch, input_signature=[
            tf.TensorSpec([None, None, None, networks.num_channels], tf.uint8, name="symbols"),
            tf.TensorSpec([None], tf.int64, name="noise_seed"),
            tf.TensorSpec([None, None, None], tf.uint8, name="label_map"),
            tf.TensorSpec([None, None, None], tf.uint8, name="latent_mask")])

    def _selective_synthesis_batch(self, symbols, noise_seed, label_map, latent_mask):
        """Symbols [N, h, w, C], seeds [N], train ids [N, 16h, 16w], mask [N, h, w] -> images."""
        k = self.networks.condition_channels
        latent = tf.shape(symbols)[:3]
        label_map, latent_mask = _checked(
            _label_map_checks(label_map, latent * [1, self.networks.stride, self.networks.stride],
                              k, "the image of the symbols (latent times stride)")
            + _mask_check(latent_mask, latent, "latent mask", "the latent of the symbols"),
            label_map, latent_mask)
        one_hot = one_hot_labels(label_map, k)
        mask = tf.cast(latent_mask, tf.float32)[..., tf.newaxis]
        images = self.networks.synthesis(tf.cast(symbols, tf.int32), noise_seed, one_hot, mask)
        return {"image": to_uint8(images)}


def make_module(networks: CodecNetworks, model_tables: np.ndarray | None,
                stock: bool = False, fingerprints: tuple[bytes, bytes | None] | None = None
                ) -> CodecModule | StockModule:
    """The full (or stock) module for `networks`: the selective variant for an SC model."""
    if networks.mode == "sc":
        cls = SelectiveStockModule if stock else SelectiveCodecModule
    else:
        cls = StockModule if stock else CodecModule
    return cls(networks, model_tables, fingerprints)
