"""A GC model's decoder as one TFLite file in built-in ops only: `.tfgc` bytes -> pixels.

    python export.py --saved_model=bundled --tflite=decoder.tflite

Two signatures, both taking the file as uint8 `data` [n] and the decode-size policy as int64
`max_pixels` (the largest H * W to decode; the API's default is `DEFAULT_MAX_PIXELS`):

* `decompress_pixels` -> `image` uint8 [H, W, 3] (with the file's colour offset, if it has
  one) and `error` int32;
* `decode_symbols` -> `symbols` int32 [h, w, C] and `error` int32 (the range decoder alone).

TFLite has no asserts that report, so a bad file is an `error` code, not an exception: 0 for
a valid file, else 1 + the position of the first failed check in `tfgc.coding.format.CHECKS`
(`tfgc.coding.builtin_ops_decoder.error_from_code` gives the API's error class), with one
black pixel as the image and [1, 1, C] zero symbols: check `error` first. PNG encoding is
not a TFLite op: the app shows or encodes the pixels itself. SC models (their files carry a
PNG label map) and models with noise channels (drawn in a loop of TensorList ops) do not
convert: refused with ConfigError.
"""

from __future__ import annotations

import tempfile

import numpy as np
import tensorflow as tf

from tfgc.coding.builtin_ops_decoder import OK, DecodingModel, decode_file
from tfgc.errors import ConfigError, TfgcError
from tfgc.export import colour_offset
from tfgc.networks import CodecNetworks
from tfgc.utils.files import write_bytes_atomic

SIGNATURES = ("decompress_pixels", "decode_symbols")
_INPUTS = [tf.TensorSpec([None], tf.uint8, name="data"),
           tf.TensorSpec([], tf.int64, name="max_pixels")]


class TFLiteDecoderModule(tf.Module):
    """The graphs the TFLite file holds: `builtin_ops_decoder` and the generator."""

    def __init__(self, networks: CodecNetworks, model_tables: np.ndarray | None,
                 fingerprints: tuple[bytes, bytes | None]):
        super().__init__()
        if networks.mode == "sc":
            raise ConfigError("an SC model's decoder does not convert to TFLite built-in ops: "
                              "its files carry the label map as a PNG, which no built-in op "
                              "decodes; use the stock SavedModel")
        if networks.noise_channels:
            raise ConfigError("a model with noise channels does not convert to TFLite built-in "
                              "ops (its noise is drawn in a loop of TensorList ops); use the "
                              "stock SavedModel")
        self.networks = networks
        self._model = DecodingModel(
            num_centers=networks.num_centers, num_channels=networks.num_channels,
            stride=networks.stride, fingerprint=fingerprints[0],
            decoder_fingerprint=fingerprints[1],
            model_tables=None if model_tables is None else np.asarray(model_tables, np.int32))

    @tf.function(input_signature=_INPUTS, autograph=False)
    def decode_symbols(self, data, max_pixels):
        decoded = decode_file(data, self._model, max_pixels)
        return {"symbols": decoded["symbols"], "error": decoded["error"]}

    @tf.function(input_signature=_INPUTS, autograph=False)
    def decompress_pixels(self, data, max_pixels):
        decoded = decode_file(data, self._model, max_pixels)
        symbols = tf.reshape(decoded["symbols"], tf.concat(
            [[1], tf.shape(decoded["symbols"])[:2], [self.networks.num_channels]], 0))
        # One untiled pass (a tile loop would need TensorList ops). On an error the symbols
        # are one zero position and the image one black pixel: TFLite's bindings cannot
        # read an empty tensor.
        ok = tf.equal(decoded["error"], OK)
        image = self.networks.synthesis(symbols, decoded["noise_seed"][None])[0]
        levels = colour_offset.output_levels(tf.where(ok, image, tf.zeros_like(image)))
        image = colour_offset.to_pixels(levels, tf.where(ok, decoded["colour_offset"], 0))
        size = tf.where(ok, decoded["image_size"], tf.ones([2], tf.int32))
        return {"image": image[:size[0], :size[1]], "error": decoded["error"]}


def convert(module: TFLiteDecoderModule) -> bytes:
    """The module as a TFLite flatbuffer with `TFLITE_BUILTINS` only (no Flex, no custom
    ops): the converter fails rather than fall back."""
    with tempfile.TemporaryDirectory() as path:
        tf.saved_model.save(module, path, signatures={
            name: getattr(module, name) for name in SIGNATURES})
        converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=list(SIGNATURES))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as e:  # ConverterError lists the ops it could not place
            raise TfgcError(f"the decoder does not convert to TFLite built-in ops: {e}") from None


def export_tflite(source: str, path: str) -> int:
    """Writes the decoder of a full export (`tfgc/<N>`, e.g. the bundled model) to `path` as
    a TFLite file, atomically; returns its size in bytes. Same weights, tables and
    fingerprints as the export, so it decodes exactly the files the export does."""
    from tfgc.export.saved_model import load_full_export

    loaded = load_full_export(source)
    data = convert(TFLiteDecoderModule(loaded.networks, loaded.model_tables, loaded.fingerprints))
    write_bytes_atomic(path, data)  # creates the folder
    return len(data)
