"""The inference graphs of a trained model, as `tf.Module`s that the Python codec calls and
that `export.py` saves. One implementation for both, so Python and SavedModel outputs are
identical by construction.

`CodecModule` compresses and decompresses with tfc's range coder (custom ops). `StockModule`
holds only stock-TF functions (analysis, synthesis, and compress / decompress with a range
encoder and decoder written in stock ops, byte-identical to tfc's): nothing reachable from it
may use a tfc op, or stock TF Serving could not load it.
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np
import tensorflow as tf

from tfgc import coding
from tfgc.data.padding import edge_pad
from tfgc.networks import CodecNetworks

_function = functools.partial(tf.function, autograph=False)
FINGERPRINT_TAG = b"tfgc-model-fingerprint-v1"


def model_fingerprint(networks: CodecNetworks, model_tables: np.ndarray | None) -> bytes:
    """16 bytes identifying the decoder a file needs: architecture, weights and tables."""
    digest = hashlib.sha256(FINGERPRINT_TAG)
    digest.update(config_to_json(networks.model_config).encode("utf-8"))
    for weight in networks.encoder.weights + networks.generator.weights:
        digest.update(np.ascontiguousarray(weight.numpy(), dtype=np.float32).tobytes())
    if model_tables is not None:
        digest.update(np.ascontiguousarray(model_tables, dtype=np.int32).tobytes())
    return digest.digest()[:16]


def png_bytes(image: tf.Tensor) -> tf.Tensor:
    """PNG of a decoded image as string [1]. zlib level 1: the default level took ~40% of a
    serving decompress (bench/serving_latency.py) for files no smaller."""
    return tf.reshape(tf.io.encode_png(image, compression=1), [1])


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)


class _CodecGraphs(tf.Module):
    """The graphs both exports share, around one `CodecNetworks` (E, q, G: no D)."""

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprint: bytes):
        super().__init__()
        self.networks = networks
        self._tables = None if model_tables is None else np.asarray(model_tables, np.int32)
        self._fingerprint = fingerprint
        # Variables, so that a loaded SavedModel tells its fingerprint, tables and config.
        self.fingerprint = tf.Variable(fingerprint, trainable=False, name="fingerprint")
        self.config_json = tf.Variable(config_to_json(networks.model_config), trainable=False,
                                       name="config_json")
        self.num_centers = tf.Variable(networks.num_centers, trainable=False, name="num_centers")
        self.num_channels = tf.Variable(networks.num_channels, trainable=False,
                                        name="num_channels")
        self.noise_channels = tf.Variable(networks.noise_channels, trainable=False,
                                          name="noise_channels")
        tables = self._tables if self._tables is not None else np.zeros([0, 0], np.int32)
        self.model_tables = tf.Variable(tables, trainable=False, name="model_tables")

    def _analysis(self, image: tf.Tensor) -> tf.Tensor:
        """uint8 [H, W, 3] -> int32 symbols [h, w, C] of the edge-padded image."""
        x = tf.cast(edge_pad(image, self.networks.stride), tf.float32)[tf.newaxis] / 255.0
        return self.networks.analysis(x)[0]

    def _synthesis(self, symbols: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
        """int32 symbols [h, w, C] -> float image [stride*h, stride*w, 3] in [0, 1]."""
        return self.networks.synthesis(symbols[tf.newaxis], noise_seed)[0]

    def _compress(self, image: tf.Tensor, noise_seed: tf.Tensor, backend: str) -> tf.Tensor:
        """uint8 [H, W, 3] -> the `.tfgc` file (scalar string); same bytes for both backends."""
        return coding.encode_symbols(
            self._analysis(image), num_centers=self.networks.num_centers,
            image_shape=tf.shape(image)[:2], fingerprint=self._fingerprint,
            stride=self.networks.stride, noise_seed=noise_seed, model_tables=self._tables,
            backend=backend)

    def _decompress(self, bitstring: tf.Tensor, backend: str) -> tf.Tensor:
        symbols, header = coding.decode_symbols(
            bitstring, fingerprint=self._fingerprint, model_tables=self._tables,
            backend=backend, num_centers=self.networks.num_centers,
            num_channels=self.networks.num_channels)
        image = self._synthesis(symbols, header["noise_seed"])
        return to_uint8(image[:header["image_height"], :header["image_width"]])


class CodecModule(_CodecGraphs):
    """compress / decompress with tfc's range coder; the Python `Codec` runs these."""

    @_function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                  tf.TensorSpec([], tf.int64)])
    def compress_one(self, image, noise_seed):
        return self._compress(image, noise_seed, "tfc")

    @_function(input_signature=[tf.TensorSpec([], tf.string)])
    def decompress_one(self, bitstring):
        return self._decompress(bitstring, "tfc")

    # Serving signatures: batch dimension 1, named outputs.
    @_function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")])
    def compress(self, image):
        bitstring = self.compress_one(image[0], tf.constant(0, tf.int64))
        return {"bitstring_bytes": tf.reshape(bitstring, [1])}

    @_function(input_signature=[tf.TensorSpec([1], tf.string, name="bitstring")])
    def decompress(self, bitstring):
        image = self.decompress_one(bitstring[0])
        return {"image": image[tf.newaxis], "png_bytes": png_bytes(image)}


class StockModule(_CodecGraphs):
    """Stock TF ops only (stock TF Serving/TFLite): analysis, synthesis, compress, decompress."""

    @_function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                  tf.TensorSpec([], tf.int64)])
    def compress_one(self, image, noise_seed):
        return self._compress(image, noise_seed, "stock")

    @_function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")])
    def compress(self, image):
        bitstring = self.compress_one(image[0], tf.constant(0, tf.int64))
        return {"bitstring_bytes": tf.reshape(bitstring, [1])}

    @_function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")])
    def analysis(self, image):
        return {"symbols": tf.cast(self._analysis(image[0]), tf.uint8)[tf.newaxis]}

    @_function(input_signature=[tf.TensorSpec([1, None, None, None], tf.uint8, name="symbols"),
                                  tf.TensorSpec([], tf.int64, name="noise_seed")])
    def synthesis(self, symbols, noise_seed):
        symbols = tf.ensure_shape(tf.cast(symbols[0], tf.int32),
                                  [None, None, self.networks.num_channels])
        return {"image": to_uint8(self._synthesis(symbols, noise_seed))[tf.newaxis]}

    @_function(input_signature=[tf.TensorSpec([1], tf.string, name="bitstring")])
    def decompress(self, bitstring):
        image = self._decompress(bitstring[0], "stock")
        return {"image": image[tf.newaxis], "png_bytes": png_bytes(image)}

    @_function(input_signature=[tf.TensorSpec([], tf.string)])
    def decompress_one(self, bitstring):
        return self._decompress(bitstring, "stock")


def config_to_json(model_config) -> str:
    data = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
    return json.dumps(data, sort_keys=True, default=list)
