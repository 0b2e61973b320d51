"""Generators z -> image that reversal can invert: a Keras model, a tfgc network or a SavedModel.

Every generator is wrapped as a `ReversibleGenerator`: images come out as float32 [B, H, W, 3]
in [0, 1], z has a known shape and prior range, and a fingerprint identifies the weights so a
file is never decoded by a generator it was not made with.

A generator SavedModel (written by `save_generator`) has a `generate` signature (z [B, D] ->
image [B, H, W, 3] in [0, 1]), a `decompress` signature (`.tfgz` files [N] -> uint8 images and
PNGs, stock TF ops only: a server without tensorflow_compression decodes reversal files) and
`assets.extra/generator.json` describing z's prior. It may also have an `encode` signature
(image [B, H, W, 3] in [0, 1] -> z [B, D] in the prior's range; generator.json then says
"encoder": true): an encoder trained with G, where reversal starts its first restart. The
encoder is an encoder-side aid only, so the fingerprint leaves it out: files do not depend on it,
and a generator with or without it decodes the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.errors import ModelLoadError, TfgcError
from tfgc.utils.files import atomic_directory, write_text_atomic

GENERATOR_INFO = "generator.json"
SIGNATURE = "generate"
ENCODE_SIGNATURE = "encode"
_FINGERPRINT_TAG = b"tfgc-generator-fingerprint-v1"


def weights_fingerprint(variables: Sequence[tf.Variable], description: str) -> bytes:
    """16 bytes over the weights (in order) and a description of the input and output."""
    digest = hashlib.sha256(_FINGERPRINT_TAG)
    digest.update(description.encode("utf-8"))
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.digest()[:16]


@dataclass
class ReversibleGenerator:
    """generate(z [B, *latent_shape]) -> images [B, H, W, 3] in [0, 1], differentiably."""

    generate: Callable[[tf.Tensor], tf.Tensor]
    latent_shape: tuple[int, ...]
    image_shape: tuple[int, int]
    prior_range: tuple[float, float]
    fingerprint: bytes
    name: str = "generator"
    # A prior + G generator: the GC model's fingerprint (files carry it), and how a stored z
    # becomes uint8 pixels [1, H, W, 3] (`PriorTiledGenerator.decode_picture`; `generate`
    # otherwise).
    model_fingerprint: bytes | None = None
    render: Callable[[tf.Tensor], tf.Tensor] | None = None
    # An encoder trained with G: images [B, H, W, 3] in [0, 1] -> z [B, *latent_shape] in the
    # prior's range, the reversal search's first start. None: random starts only.
    encode: Callable[[tf.Tensor], tf.Tensor] | None = None

    @property
    def latent_size(self) -> int:
        return int(np.prod(self.latent_shape))

    def __call__(self, z: tf.Tensor) -> tf.Tensor:
        return self.generate(z)

    def picture(self, z: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] of one z: what a decoder shows for it (encoder and decoder alike)."""
        z = tf.constant(np.asarray(z, np.float32).reshape((1, *self.latent_shape)))
        if self.render is not None:
            return self.render(z)[0].numpy()
        from tfgc.export.modules import to_uint8

        return to_uint8(self.generate(z))[0].numpy()

    def sample_latents(self, count: int, seed: int) -> tf.Tensor:
        low, high = self.prior_range
        return tf.random.stateless_uniform([count, *self.latent_shape], [seed, 0x5EED], low, high)


def from_keras(model: tf.keras.Model, latent_shape: Sequence[int],
               output_range: tuple[float, float] = (-1.0, 1.0),
               prior_range: tuple[float, float] = (-1.0, 1.0),
               name: str | None = None) -> ReversibleGenerator:
    """Any Keras model (or tfgc network) taking z [B, *latent_shape] to images [B, H, W, 3]
    with values in `output_range` (tanh: (-1, 1))."""
    latent_shape = tuple(int(d) for d in latent_shape)
    low, high = output_range
    probe = model(tf.zeros([1, *latent_shape]), training=False)
    if probe.shape.rank != 4 or probe.shape[-1] != 3:
        raise ModelLoadError(f"generator output must be [B, H, W, 3], got {probe.shape}")

    def generate(z):
        return (tf.cast(model(z, training=False), tf.float32) - low) / (high - low)

    description = json.dumps([latent_shape, list(output_range), list(prior_range)])
    return ReversibleGenerator(generate, latent_shape, (int(probe.shape[1]), int(probe.shape[2])),
                               (float(prior_range[0]), float(prior_range[1])),
                               weights_fingerprint(model.weights, description),
                               name or model.name)


class PriorTiledGenerator:
    """A learned prior over a GC model's codes (`tfgc.prior`) and that model's G: an
    unconditional generator of images of any size, which reversal inverts.

    The prior makes codes of one shape (h, w, C), so an image's code is a grid of prior
    tiles, each from its own z [latent_dim] (z of the image: [rows, columns, latent_dim]),
    snapped to the nearest centers (gradients through the quantiser's soft assignment).
    G decodes the whole grid at once, cropped to the image: G's receptive field joins the
    tiles, no seams of its own. A whole image from a few hundred bits per tile."""

    prior_range = (-1.0, 1.0)  # z's, as the prior was trained (`tfgc.prior.sample_symbols`)

    def __init__(self, networks, prior: tf.keras.Model, model_fingerprint: bytes,
                 name: str | None = None):
        self.networks, self.prior = networks, prior
        self.model_fingerprint = bytes(model_fingerprint)
        self.latent_dim = int(prior.latent_dim)
        self.code_shape = tuple(int(d) for d in prior.code_shape)
        self.fingerprint = weights_fingerprint(prior.weights, json.dumps(
            [self.latent_dim, list(self.code_shape), "code prior"]))
        self.name = name or f"{prior.name} + G {self.model_fingerprint.hex()[:8]}"
        self._at: dict[tuple[int, int], ReversibleGenerator] = {}
        # One graph for every image size: the Python API and the prior + G SavedModel
        # (`tfgc.reversal.prior_export`) decode with the same code, so the same pixels.
        self.decode_picture = tf.function(self.picture_graph, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int64),
            tf.TensorSpec([], tf.int64)])

    @property
    def tile_shape(self) -> tuple[int, int]:
        """Pixels one prior tile decodes to."""
        stride = self.networks.stride
        return self.code_shape[0] * stride, self.code_shape[1] * stride

    def grid(self, image_shape: tuple[int, int]) -> tuple[int, int]:
        """Rows and columns of prior tiles that cover an image (its code, rounded up)."""
        (height, width), (tile_h, tile_w) = image_shape, self.tile_shape
        return -(-height // tile_h), -(-width // tile_w)  # ints, or tensors in a graph

    def latent_size(self, image_shape: tuple[int, int]) -> int:
        rows, columns = self.grid(image_shape)
        return rows * columns * self.latent_dim

    def at(self, image_shape: tuple[int, int]) -> ReversibleGenerator:
        """The reversible generator of images of this size (built once per size)."""
        from tfgc.reversal.fileformat import MAX_SIDE

        height, width = (int(d) for d in image_shape)
        if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
            raise TfgcError(f"a {width}x{height} image cannot be made: reversal files hold "
                            f"1 to {MAX_SIDE} pixels a side")
        if (height, width) not in self._at:
            self._at[height, width] = self._generator(height, width)
        return self._at[height, width]

    def _codes(self, tiles: tf.Tensor, rows, columns) -> tf.Tensor:
        """The prior's tiles [B * rows * columns, h, w, C], row-major -> continuous codes of
        the tile grid [B, rows * h, columns * w, C]."""
        h, w, c = self.code_shape
        rows, columns = tf.cast(rows, tf.int32), tf.cast(columns, tf.int32)
        grid = tf.reshape(tiles, tf.stack([-1, rows, columns, h, w, c]))
        return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]),
                          tf.stack([-1, rows * h, columns * w, c]))

    def _tiles_in_chunks(self, z: tf.Tensor, chunk: int = 64) -> tf.Tensor:
        """The prior's tiles of z [n, latent_dim], `chunk` at a time (bounded memory)."""
        count = tf.shape(z)[0]

        def body(i, out):
            return i + 1, out.write(i, self.prior(z[i * chunk:(i + 1) * chunk], training=False))

        chunks = (count + chunk - 1) // chunk
        out = tf.TensorArray(tf.float32, size=chunks, infer_shape=False,
                             element_shape=[None, *self.code_shape])
        _, out = tf.while_loop(lambda i, _: i < chunks, body, (tf.constant(0), out),
                               parallel_iterations=1)
        return out.concat()

    def picture_graph(self, z: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
        """z of a `height` x `width` image (float32 [rows * columns * latent_dim], tiles
        row-major) -> its uint8 picture [H, W, 3]: what a decoder shows. Graph code for any
        size (int64 scalars); G runs in row tiles (networks/tiling): bounded memory."""
        from tfgc.export.modules import to_uint8

        networks, stride = self.networks, self.networks.stride
        rows, columns = self.grid((height, width))
        tiles = self._tiles_in_chunks(tf.reshape(z, [-1, self.latent_dim]))
        codes = self._codes(tiles, rows, columns)
        symbols = networks.quantizer.symbols(codes[:, :-(-height // stride),
                                                   :-(-width // stride)])
        features = networks.synthesis_features(symbols, 0)
        image = networks.synthesis_tiles(features).map(
            networks.synthesis_rows(features, finish=to_uint8), tf.uint8)
        return image[:height, :width]

    def _generator(self, height: int, width: int) -> ReversibleGenerator:
        from tfgc.layers.noise import latent_noise

        networks = self.networks
        rows, columns = self.grid((height, width))
        stride = networks.stride
        code_h, code_w = -(-height // stride), -(-width // stride)

        def generate(z):
            flat = tf.reshape(tf.cast(z, tf.float32), [-1, self.latent_dim])
            codes = self._codes(self.prior(flat, training=False), rows, columns)
            quantized, _ = networks.quantizer(codes[:, :code_h, :code_w])
            noise = (latent_noise(quantized, networks.noise_channels, 0)
                     if networks.noise_channels else None)
            images = networks.generator(quantized, noise, None, training=False)
            return (images[:, :height, :width] + 1.0) / 2.0

        def render(z):  # one z -> uint8 [1, H, W, 3]
            return self.decode_picture(tf.reshape(tf.cast(z, tf.float32), [-1]),
                                       tf.constant(height, tf.int64),
                                       tf.constant(width, tf.int64))[tf.newaxis]

        return ReversibleGenerator(generate, (rows, columns, self.latent_dim), (height, width),
                                   self.prior_range, self.fingerprint, self.name,
                                   self.model_fingerprint, render)


def load_prior_generator(prior_path: str, model_path: str | None = None
                         ) -> PriorTiledGenerator:
    """The code prior at `prior_path` with the G of the GC model at `model_path` (None: the
    bundled model); a prior trained on another model's codes is refused (ModelMismatchError)."""
    from tfgc.codec import load_codec
    from tfgc.prior import load_prior

    if model_path and os.path.exists(os.path.join(model_path, "assets.extra", GENERATOR_INFO)):
        raise ModelLoadError(f"{model_path} is a generator SavedModel; with a code prior the "
                             "generator is the GC model the prior was trained on (a training "
                             "workdir or a GC export)")
    codec = load_codec(model_path)
    prior = load_prior(prior_path, codec.networks.quantizer.centers_list, codec.fingerprint)
    return PriorTiledGenerator(codec.networks, prior, codec.fingerprint,
                               f"prior {os.path.basename(os.path.normpath(prior_path))} + G "
                               f"{codec.fingerprint.hex()[:8]}")


class _GeneratorModule(tf.Module):
    """generate (z -> image), decompress (`.tfgz` files -> images, stock TF ops only) and
    optionally encode (image -> z)."""

    def __init__(self, model: tf.keras.Model, latent_dim: int,
                 prior_range: tuple[float, float]):
        super().__init__()
        self.model = model
        self.prior_range = prior_range
        self.generate = tf.function(
            lambda z: {"image": self._image(z)},
            input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])

    def add_encode(self, encoder: tf.keras.Model, image_shape: tuple[int, int]) -> None:
        """The `encode` signature: image [B, H, W, 3] in [0, 1] -> z [B, D] in the prior's
        range (a tanh encoder of [-1, 1] images)."""
        self.encoder = encoder
        low, high = self.prior_range
        self.encode = tf.function(
            lambda image: {"z": tf.clip_by_value(
                encoder(image * 2.0 - 1.0, training=False), low, high)},
            input_signature=[tf.TensorSpec([None, *image_shape, 3], tf.float32, name="image")])

    def _image(self, z: tf.Tensor) -> tf.Tensor:
        return (self.model(z, training=False) + 1.0) / 2.0

    def add_decompress(self, fingerprint: bytes, image_shape: tuple[int, int],
                       latent_dim: int) -> None:
        """The `decompress` signature: bitstring [N] -> image uint8 [N, H, W, 3] and
        png_bytes [N]. Each file is checked and decoded alone (a batch never changes a
        picture), with the Python API's checks, error classes and decode-size policy."""
        from tfgc.coding.format import DEFAULT_MAX_PIXELS
        from tfgc.export.modules import png_bytes, to_uint8
        from tfgc.reversal.graph_reader import read_latent

        self.fingerprint = tf.Variable(fingerprint, trainable=False, name="fingerprint")

        def one(bitstring):
            z = read_latent(bitstring, fingerprint=fingerprint, image_shape=image_shape,
                            latent_size=latent_dim, prior_range=self.prior_range,
                            max_pixels=tf.constant(DEFAULT_MAX_PIXELS, tf.int64)).z
            image = to_uint8(self._image(z[tf.newaxis]))[0]
            return image, png_bytes(image)

        def decompress(bitstrings):
            images, pngs = tf.map_fn(one, bitstrings, parallel_iterations=1, fn_output_signature=(
                tf.TensorSpec([*image_shape, 3], tf.uint8), tf.TensorSpec([], tf.string)))
            return {"image": images, "png_bytes": pngs}

        self.decompress = tf.function(decompress, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name="bitstring")])


def save_generator(model: tf.keras.Model, path: str, info: dict,
                   encoder: tf.keras.Model | None = None) -> None:
    """A tanh generator z [B, D] -> [B, S, S, 3] as a generator SavedModel at `path` (new),
    with `generate` and a stock-ops `decompress` for the `.tfgz` files it makes, and with
    an `encoder` (images [B, S, S, 3] in [-1, 1] -> z [B, D]) an `encode` signature.

    info: at least latent_dim; prior "uniform" means z in [-1, 1]^D. A model card is written
    beside it from the rest of `info`."""
    latent_dim = int(info["latent_dim"])
    prior = (-1.0, 1.0)
    module = _GeneratorModule(model, latent_dim, prior)
    image = module.generate(tf.zeros([1, latent_dim]))["image"]
    info = {**info, "latent_shape": [latent_dim], "image_shape": list(image.shape[1:3]),
            "prior_range": list(prior)}
    signatures = {SIGNATURE: module.generate}
    if encoder is not None:
        module.add_encode(encoder, tuple(info["image_shape"]))
        info["encoder"] = True
        signatures[ENCODE_SIGNATURE] = module.encode
    with atomic_directory(path) as tmp:
        # The fingerprint hashes the weights in the order a loaded `generate` lists them;
        # `decompress` needs it before the final save, so a first save tells the order.
        first = os.path.join(tmp, "first")
        tf.saved_model.save(module, first, signatures=signatures)
        fingerprint = load_generator(first).fingerprint
        shutil.rmtree(first)
        module.add_decompress(fingerprint, tuple(info["image_shape"]), latent_dim)
        tf.saved_model.save(module, tmp, signatures={
            **signatures, "decompress": module.decompress, "serving_default": module.generate})
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        info["fingerprint"] = fingerprint.hex()
        write_text_atomic(os.path.join(extra, GENERATOR_INFO), json.dumps(info, indent=1))
        write_text_atomic(os.path.join(extra, "model_card.md"), _card(info))
        load_generator(tmp)  # the saved weights have the fingerprint `decompress` checks


def _description(latent_shape, prior_range) -> str:
    """What the fingerprint covers besides the weights: z's shape, output and prior range."""
    return json.dumps([list(latent_shape), [0.0, 1.0], list(prior_range)])


def _card(info: dict) -> str:
    training = info.get("training", {})
    lines = ["# tfgc generator card", "",
             f"- fingerprint: `{info['fingerprint']}`",
             f"- architecture: {info.get('kind', '?')}, z: {info['latent_shape']} uniform in "
             f"{info['prior_range']}, image {info['image_shape'][0]}x{info['image_shape'][1]}, "
             f"width {info.get('width', '?')}",
             "- use: GAN-reversal compression (`python -m tfgc reverse IMG --generator PATH`)"
             + (", whose search starts from this SavedModel's `encode` signature (an encoder "
                "trained with G)" if info.get("encoder") else ""),
             "- decoding: `python -m tfgc decompress FILE.tfgz --generator PATH`, or this "
             "SavedModel's `decompress` signature (stock TF ops, no tensorflow_compression; "
             "range-coded files only)"]
    if training:
        data = (f"{training.get('image_size')}-px random crops of photos scaled to a "
                f"{training.get('scale_to')}-px shorter side ({training.get('data')})"
                if "scale_to" in training else
                f"{training.get('data')}, {training.get('image_size')} px square")
        lines += [f"- trained: {training.get('steps')} steps, batch {training.get('batch_size')},"
                  f" {training.get('loss')} loss, {training.get('minutes')} min on CPU "
                  f"(wall), on {data}",
                  f"- final losses: {training.get('final_losses')}"]
    return "\n".join(lines) + "\n"


def load_generator(path: str) -> ReversibleGenerator:
    """A generator SavedModel written by `save_generator` (or any SavedModel with a
    `generate` signature and an assets.extra/generator.json giving latent_shape and
    prior_range)."""
    info_path = os.path.join(path, "assets.extra", GENERATOR_INFO)
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ModelLoadError(f"{path} is not a generator SavedModel (no saved_model.pb)")
    try:
        module = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise ModelLoadError(f"cannot load generator {path}: {e}") from None
    if SIGNATURE not in module.signatures:
        raise ModelLoadError(f"{path} has no '{SIGNATURE}' signature: not a tfgc generator")
    signature = module.signatures[SIGNATURE]
    spec = signature.structured_input_signature[1]
    latent_shape = tuple(int(d) for d in next(iter(spec.values())).shape[1:])
    info = {}
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
    prior = tuple(float(v) for v in info.get("prior_range", (-1.0, 1.0)))
    image = signature(tf.zeros([1, *latent_shape]))["image"]

    def generate(z):  # holds `module`: its variables live only as long as it does
        return module.signatures[SIGNATURE](tf.cast(z, tf.float32))["image"]

    fingerprint = weights_fingerprint(signature.variables, _description(latent_shape, prior))
    if "fingerprint" in info and info["fingerprint"] != fingerprint.hex():
        raise ModelLoadError(f"{path}: the weights do not match the fingerprint in "
                             f"{GENERATOR_INFO} (the generator was modified or is corrupted)")
    encode = None
    if ENCODE_SIGNATURE in module.signatures:
        def encode(images):  # holds `module` too
            return module.signatures[ENCODE_SIGNATURE](tf.cast(images, tf.float32))["z"]
    return ReversibleGenerator(generate, latent_shape, (int(image.shape[1]), int(image.shape[2])),
                               prior, fingerprint, os.path.basename(os.path.normpath(path)),
                               encode=encode)
