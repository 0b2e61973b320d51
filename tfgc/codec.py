"""The Python API: compress images to `.tfgc` bytes and back with a trained model.

    codec = load_codec("runs/my_model")        # a training workdir, an export, or None
    data = codec.compress(image)                # uint8 [H, W, 3] or a path -> bytes
    data = codec.compress(image, optimize_steps=20)  # slower encode, better picture, same decoder
    pixels = codec.decompress(data)             # -> uint8 [H, W, 3]

A selective-compression (SC) model also takes the image's label map and what to preserve:
    data = codec.compress(image, labels="x_gtFine_labelIds.png", preserve="person,car")
    (or preserve_box=(x0, y0, x1, y1), or preserve_mask="mask.png"); decompress is unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import ml_collections
import numpy as np
import tensorflow as tf

from tfgc import coding
from tfgc.coding.format import DEFAULT_MAX_PIXELS, NO_PIXEL_LIMIT
from tfgc.data.images import load_image
from tfgc.errors import (
    BitstreamError,
    ConfigError,
    ModelLoadError,
    ResourceLimitError,
    TfgcError,
)
from tfgc.export import colour_offset as colour
from tfgc.export.modules import latent_mask
from tfgc.latent_search.gc import DEFAULT_LOSS as DEFAULT_OPTIMIZE_LOSS
from tfgc.latent_search.gc import SymbolOptimizer
from tfgc.networks import CodecNetworks
from tfgc.semantic.inputs import Preserve, read_label_map
from tfgc.semantic.inputs import preserve_mask as make_preserve_mask
from tfgc.semantic.labels import label_set
from tfgc.utils.restore import require_all_restored
from tfgc.workdir import CONFIG_FILE, MODEL_PATH, checkpoint_step, find_checkpoint, read_config

# tile_progress(done, total): called after each tile one image's encode or decode runs through a
# network (compress: the encoder's tiles, then the generator's for the colour offset).
TileProgress = Callable[[int, int], None]
SAVED_MODEL_NAME = "tfgc"  # export layout: OUT/tfgc/<version>/ and OUT/tfgc_stock/<version>/
MAX_OPTIMIZE_STEPS = 10_000


@dataclass
class CompressResult:
    data: bytes
    height: int
    width: int
    seconds: float

    @property
    def bpp(self) -> float:
        return 8 * len(self.data) / (self.height * self.width)


def _as_pixels(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike, bytes)):
        return load_image(image).pixels
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise TfgcError(f"expected a uint8 RGB image [H, W, 3], got {pixels.dtype} "
                        f"{pixels.shape}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise TfgcError(f"image is empty: {pixels.shape}")
    return pixels


def _label_inputs(selective: tuple) -> tuple[tf.Tensor, tf.Tensor]:
    """An SC image's (label map, preservation mask), or the [0, 0] pair the graphs take for
    GC images."""
    no_labels = tf.zeros([0, 0], tf.uint8)
    return selective or (no_labels, no_labels)


def model_label(fingerprint: bytes, model_dir: str | None = None) -> str:
    """How outputs name a model: its model card's title, if it has one, and its fingerprint.

    Not the folder name: that is `model` for the bundled model and `1` for every export.
    """
    title = "tfgc"
    card = os.path.join(model_dir, "assets.extra", "model_card.md") if model_dir else None
    if card and os.path.exists(card):
        with open(card, encoding="utf-8") as f:
            first = f.readline().strip()
        if first.startswith("# "):
            title = first[2:].removesuffix(" model card").strip() or title
    return f"{title} {fingerprint.hex()[:8]}"


class Codec:
    """A trained model's compress/decompress, from a checkpoint or a SavedModel."""

    optimize_steps = 0  # `compress`'s default; see `with_optimization`
    colour_offset = True  # `compress`'s default; see `with_colour_offset`
    optimize_loss = DEFAULT_OPTIMIZE_LOSS

    def __init__(self, module, name: str):
        self.module = module
        self.name = name
        self.fingerprint = bytes(module.fingerprint.numpy())
        # Exports before model identity v2 have only `fingerprint` (every file carries it).
        self.decoder_fingerprint = (bytes(module.decoder_fingerprint.numpy()) or None
                                    if hasattr(module, "decoder_fingerprint") else None)
        tables = module.model_tables.numpy()
        self.model_tables = tables if tables.size else None
        self.num_centers = int(module.num_centers.numpy())
        self.num_channels = int(module.num_channels.numpy())
        self.config_json = module.config_json.numpy().decode("utf-8")
        # Exports written before the stride was stored all have the stride-16 networks.
        self.stride = int(module.stride.numpy()) if hasattr(module, "stride") else 16
        model_config = json.loads(self.config_json)
        self.mode = model_config.get("mode", "gc")
        self.label_set = (label_set(model_config["label_set"])
                          if model_config.get("label_set") else None)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_networks(cls, networks: CodecNetworks, model_tables: np.ndarray | None = None,
                      name: str | None = None) -> Codec:
        """A codec running `networks` in this process."""
        from tfgc.export.modules import make_module

        module = make_module(networks, model_tables)
        return cls(module, name or model_label(bytes(module.fingerprint.numpy())))

    @classmethod
    def from_workdir(cls, workdir: str, checkpoint: str | None = None,
                     model_tables: np.ndarray | None = None) -> Codec:
        """The networks of a training checkpoint (default: the latest), without the trainer."""
        restored = restore_networks(workdir, checkpoint)
        codec = cls.from_networks(restored.networks, model_tables)
        codec.name = f"{model_label(codec.fingerprint)} (step {restored.step})"
        codec.step = restored.step
        return codec

    @classmethod
    def from_saved_model(cls, path: str) -> Codec:
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        try:
            module = tf.saved_model.load(path)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise ModelLoadError(f"cannot load SavedModel {path}: {e}") from None
        if not hasattr(module, "compress_one"):
            raise ModelLoadError(f"{path} is not a full tfgc export (it has no compress); use "
                                 "the tfgc/<version> directory, not tfgc_stock")
        codec = cls(module, name=model_label(bytes(module.fingerprint.numpy()), path))
        codec.saved_model_path = path
        return codec

    # ----------------------------------------------------------------------------------------
    def compress(self, image, noise_seed: int = 0, optimize_steps: int | None = None,
                 optimize_loss: str | None = None, *, labels=None, preserve=None,
                 preserve_box=None, preserve_mask=None,
                 colour_offset: bool | None = None) -> bytes:
        """uint8 [H, W, 3] array or an image path -> the `.tfgc` file bytes.

        optimize_steps > 0 (GC models) searches, from the encoder's symbols, for symbols the
        generator renders closer to the image under `optimize_loss` (terms mse, l1, ssim,
        ms_ssim and bpp, the code length under the model's tables; default
        DEFAULT_OPTIMIZE_LOSS). The file is an ordinary one for the same decoder, never worse
        than plain encoding under that loss; each step costs about one generator forward and
        backward pass. None: this codec's setting (0 unless made by `with_optimization`).

        SC models: `labels` is the label map (path or [H, W] array of the dataset's label ids,
        e.g. a Cityscapes *_gtFine_labelIds.png) and exactly one of `preserve` (class names,
        "person,car" or a list), `preserve_box` ((x0, y0, x1, y1) or "X0,Y0,X1,Y1", pixels,
        end exclusive) or `preserve_mask` (path or [H, W] array, nonzero = preserve) says
        what to keep; the rest is synthesised from the label map.

        colour_offset: store the per-channel colour offset that brings the decoded image's
        mean colour to the original's (docs/bitstream.md, section type 3): the encoder runs
        the generator once more. None: this codec's setting (True unless made by
        `with_colour_offset(False)`).
        """
        return self.compress_with_stats(image, noise_seed, optimize_steps, optimize_loss,
                                        labels=labels, preserve=preserve,
                                        preserve_box=preserve_box,
                                        preserve_mask=preserve_mask,
                                        colour_offset=colour_offset).data

    def compress_with_stats(self, image, noise_seed: int = 0,
                            optimize_steps: int | None = None, optimize_loss: str | None = None,
                            progress: Callable[[int, np.ndarray], None] | None = None, *,
                            labels=None, preserve=None, preserve_box=None,
                            preserve_mask=None,
                            tile_progress: TileProgress | None = None,
                            colour_offset: bool | None = None) -> CompressResult:
        """`compress` with sizes and time; progress(step, loss) after each optimisation step,
        tile_progress(done, total) after each tile of the encoder (plain encoding) and of the
        generator (the colour offset): `total` counts both passes."""
        pixels = _as_pixels(image)
        selective = self._selective_inputs(pixels.shape[:2], labels, preserve, preserve_box,
                                           preserve_mask)
        if not 0 <= noise_seed < 1 << 32:
            raise TfgcError(f"noise_seed must fit in 32 bits, got {noise_seed}")
        steps = self.optimize_steps if optimize_steps is None else optimize_steps
        if not (isinstance(steps, int) and 0 <= steps <= MAX_OPTIMIZE_STEPS):
            raise TfgcError(f"optimize_steps must be a whole number 0..{MAX_OPTIMIZE_STEPS}, "
                            f"got {steps!r}")
        max_side = coding.format.MAX_IMAGE_SIDE
        if max(pixels.shape[:2]) > max_side:
            raise TfgcError(f"image {pixels.shape[1]}x{pixels.shape[0]} is larger than the "
                            f"format's limit of {max_side} pixels per side")
        offset = self.colour_offset if colour_offset is None else colour_offset
        tiles = _TileCounter(tile_progress)
        start = time.perf_counter()
        if steps:
            if selective:
                raise ConfigError("latent optimisation (optimize_steps) supports GC models; "
                                  f"{self.name} is a selective-compression (SC) model")
            optimizer = self.symbol_optimizer(optimize_loss or self.optimize_loss)
            symbols, _ = optimizer.optimize(pixels, steps, noise_seed, progress)
            symbols = tf.cast(symbols, tf.int32)
            if offset and self.writes_colour_offset:
                tiles.total = self._synthesis_tile_count(pixels.shape[:2])
            data = coding.encode_symbols(
                symbols, num_centers=self.num_centers, image_shape=pixels.shape[:2],
                fingerprint=self.fingerprint, decoder_fingerprint=self.decoder_fingerprint,
                stride=self.networks.stride, noise_seed=noise_seed,
                model_tables=self.model_tables, colour_offset=self._colour_offset(
                    tf.constant(pixels), symbols, noise_seed, (), tiles) if offset else None)
        else:
            with _memory_errors("compressing this image"):
                data = self._compress_in_tiles(pixels, noise_seed, selective, tiles, offset)
        return CompressResult(bytes(data.numpy()), pixels.shape[0], pixels.shape[1],
                              time.perf_counter() - start)

    def with_optimization(self, steps: int, loss: str = DEFAULT_OPTIMIZE_LOSS) -> Codec:
        """This codec, compressing with `optimize_steps=steps` unless told otherwise, under a
        name that says so (evaluation results of the two encodings never mix)."""
        if steps:
            self.symbol_optimizer(loss)  # a bad loss fails here, not on every image
        optimizing = copy.copy(self)
        optimizing.optimize_steps, optimizing.optimize_loss = steps, loss
        if steps:
            optimizing.name = f"{self.name}+optimize{steps}"
        return optimizing

    def with_colour_offset(self, enabled: bool) -> Codec:
        """This codec, storing the colour offset (`compress`'s colour_offset) unless told
        otherwise; without it, under a name that says so (results never mix)."""
        changed = copy.copy(self)
        changed.colour_offset = bool(enabled)
        if not enabled:
            changed.name = f"{self.name} without colour offset"
        return changed

    @property
    def writes_colour_offset(self) -> bool:
        """Whether this model's graphs can write the colour offset (exports before it
        cannot; their files carry none)."""
        return hasattr(self.module, "colour_offset")

    def encode_passes(self, optimize_steps: int | None = None,
                      colour_offset: bool | None = None) -> int:
        """How many passes over an image's tiles `compress_with_stats` reports to its
        tile_progress (the encoder's, plain encoding; the generator's, the colour offset):
        an image of one tile reports this many tiles in all."""
        if not self._drives_tiles:
            return 0
        steps = self.optimize_steps if optimize_steps is None else optimize_steps
        offset = self.colour_offset if colour_offset is None else colour_offset
        return int(not steps) + int(bool(offset) and self.writes_colour_offset)

    def _colour_offset(self, image: tf.Tensor, symbols: tf.Tensor, noise_seed: int,
                       selective: tuple, tiles: _TileCounter) -> tf.Tensor | None:
        """The file's colour offset (int32 [3]) for these symbols of uint8 `image`, as the
        graphs' `colour_offset` computes it, with G's tiles driven from here (`tiles` counts
        them); None from an export that predates it."""
        if not self.writes_colour_offset:
            return None
        label_map, preserve_mask = _label_inputs(selective)
        mask = (latent_mask(preserve_mask, self.stride) if selective
                else tf.ones(tf.shape(symbols)[:2], tf.int32))
        features = self.module.synthesis_features(symbols, tf.constant(noise_seed, tf.int64),
                                                  label_map, mask)
        histogram, sums, row = 0, 0, 0
        for index in range(int(self.module.synthesis_tile_count(features))):
            levels = self.module.synthesis_levels(features, tf.constant(index))
            tile_histogram, tile_sums = colour.tile_statistics(levels, image, row)
            histogram, sums, row = histogram + tile_histogram, sums + tile_sums, row + len(levels)
            tiles.done_one()
        return colour.choose(histogram, sums)

    def _synthesis_tile_count(self, image_size: Sequence[int]) -> int:
        """G's tiles for an image of `image_size`, before its features exist: the plan
        depends only on the latent size, so features of that size and no channels tell."""
        latent = [-(-int(n) // self.stride) for n in image_size]
        return int(self.module.synthesis_tile_count(tf.zeros([1, *latent, 0])))

    def symbol_optimizer(self, loss: str = DEFAULT_OPTIMIZE_LOSS):
        """The encoder-side optimiser of this model's symbols (built once per loss)."""
        cache = self.__dict__.setdefault("_symbol_optimizers", {})
        if loss not in cache:
            cache[loss] = SymbolOptimizer(self.networks, loss, model_tables=self.model_tables)
        return cache[loss]

    @property
    def networks(self):
        """E, q and G as differentiable Keras networks (rebuilt from a SavedModel's config
        and variables when the codec was loaded from one)."""
        if "_networks" not in self.__dict__:
            path = getattr(self, "saved_model_path", None)
            self._networks = (networks_from_saved_model(
                path, ml_collections.ConfigDict(json.loads(self.config_json))) if path
                else self.module.networks)
        return self._networks

    def _selective_inputs(self, shape, labels, preserve, preserve_box, preserve_mask):
        """() for GC models; (train ids, pixel mask) tensors for SC models, checked."""
        given = [name for name, value in (("labels", labels), ("preserve", preserve),
                                          ("preserve_box", preserve_box),
                                          ("preserve_mask", preserve_mask)) if value is not None]
        if self.mode != "sc":
            if given:
                raise ConfigError(
                    f"{self.name} is a {self.mode.upper()} model: it compresses without a "
                    f"label map ({', '.join(given)} given); use a selective-compression (SC) "
                    "model to synthesise regions from labels")
            return ()
        if labels is None:
            raise ConfigError(f"{self.name} is a selective-compression (SC) model: give the "
                              "image's label map (--labels LABELS.png) and what to preserve")
        train_ids = read_label_map(labels, self.label_set, shape)
        mask = make_preserve_mask(Preserve(preserve, preserve_box, preserve_mask), train_ids,
                                  self.label_set)
        return tf.constant(train_ids), tf.constant(mask)

    def decompress(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   tile_progress: TileProgress | None = None) -> np.ndarray:
        """`.tfgc` file bytes -> uint8 [H, W, 3]; a bad file raises a tfgc BitstreamError.

        max_pixels: a file whose image has more pixels raises ResourceLimitError before
        anything is decoded (a 49-byte file can claim a 65535 x 65535 image); None: no limit.
        tile_progress(done, total): called after each tile of the generator.
        """
        if not isinstance(data, (bytes, bytearray)):
            raise TfgcError(f"decompress takes bytes, got {type(data).__name__}")
        data = bytes(data)
        limit = NO_PIXEL_LIMIT if max_pixels is None else int(max_pixels)
        coding.validate_file(
            data, fingerprint=self.fingerprint, model_tables=self.model_tables,
            num_centers=self.num_centers, num_channels=self.num_channels,
            decoder_fingerprint=self.decoder_fingerprint, stride=self.stride, max_pixels=limit,
            selective=self.mode == "sc")
        args = [tf.constant(data)]
        if _takes_max_pixels(self.module.decompress_one):
            args.append(tf.constant(limit, tf.int64))
        else:  # an older export, whose graph lacks the payload check: run this build's first
            coding.decode_symbols(data, fingerprint=self.fingerprint,
                                  model_tables=self.model_tables, num_centers=self.num_centers,
                                  num_channels=self.num_channels, stride=self.stride,
                                  max_pixels=limit, selective=self.mode == "sc",
                                  decoder_fingerprint=self.decoder_fingerprint)
        try:
            with _memory_errors("decoding this file"):
                if not self._drives_tiles:  # an export from before the tile functions
                    return self.module.decompress_one(*args).numpy()
                return self._decompress_in_tiles(*args, tile_progress)
        except tf.errors.InvalidArgumentError as e:
            raise coding.error_from_graph(e) from None

    # ----------------------------------------------------------------------------------------
    # compress_one and decompress_one of the module, with the tile loop driven from here: the
    # same graph code and tiles (so the same bytes and pixels), a progress report per tile,
    # and only one tile's activations and the output image alive at a time.
    @property
    def _drives_tiles(self) -> bool:
        return hasattr(self.module, "synthesis_tile")

    def _compress_in_tiles(self, pixels: np.ndarray, noise_seed: int, selective: tuple,
                           tiles: _TileCounter, colour_offset: bool = True) -> tf.Tensor:
        seed = tf.constant(noise_seed, tf.int64)
        image = tf.constant(pixels)
        if not self._drives_tiles:  # an export from before the tile functions (no offset)
            return self.module.compress_one(image, seed, *selective)
        count = int(self.module.analysis_tile_count(image))
        tiles.total = count + (self._synthesis_tile_count(pixels.shape[:2])
                               if colour_offset and self.writes_colour_offset else 0)
        symbols = []
        for index in range(count):
            symbols.append(self.module.analysis_tile(image, tf.constant(index)))
            tiles.done_one()
        symbols = tf.concat(symbols, 0)
        offset = ()  # exports before the colour offset take no offset argument
        if self.writes_colour_offset:
            offset = (self._colour_offset(image, symbols, noise_seed, selective, tiles)
                      if colour_offset else tf.zeros([3], tf.int32),)
        return self.module.encode(symbols, tf.constant(pixels.shape[:2]), seed,
                                  *_label_inputs(selective), *offset)

    def _decompress_in_tiles(self, data: tf.Tensor, max_pixels: tf.Tensor,
                             tile_progress: TileProgress | None) -> np.ndarray:
        decoded = self.module.decode(data, max_pixels)
        features = self.module.synthesis_features(decoded["symbols"], decoded["noise_seed"],
                                                  decoded["label_map"], decoded["latent_mask"])
        del decoded["label_map"]  # an SC model's label map is as large as the image
        height, width = (int(n) for n in decoded["image_size"])
        image = np.empty([height, width, 3], np.uint8)
        # Exports before the colour offset neither read it nor take it here.
        offset = (decoded["colour_offset"],) if "colour_offset" in decoded else ()
        total, row = int(self.module.synthesis_tile_count(features)), 0
        for index in range(total):
            rows = self.module.synthesis_tile(features, tf.constant(index), *offset).numpy()
            image[row:row + len(rows)] = rows[:height - row, :width]
            row += len(rows)
            if tile_progress:
                tile_progress(index + 1, total)
        return image

    def compress_many(self, images: Iterable) -> list[bytes]:
        return [self.compress(image) for image in images]

    def decompress_many(self, files: Sequence[bytes]) -> list[np.ndarray]:
        return [self.decompress(data) for data in files]

    def header_size(self, data: bytes) -> int:
        return coding.header_size(bytes(data))

    def info(self, data: bytes) -> coding.Header:
        return coding.parse_header(bytes(data))


@dataclass
class _TileCounter:
    """Calls tile_progress(done, total) after each tile, counting across an encode's passes."""

    tile_progress: TileProgress | None
    total: int = 0
    done: int = 0

    def done_one(self) -> None:
        self.done += 1
        if self.tile_progress:
            self.tile_progress(self.done, self.total)


@dataclass
class RestoredNetworks:
    networks: CodecNetworks
    config: ml_collections.ConfigDict  # the run's full config
    step: int


def restore_networks(workdir: str, checkpoint: str | None = None) -> RestoredNetworks:
    """E, q and the inference G (the EMA copy if the run kept one) from a training checkpoint.

    Builds only what encoding and decoding need: no optimizers, schedules, D or losses. Every
    variable of the networks must be in the checkpoint (a wrong architecture is an error,
    not random weights); the rest of the checkpoint is ignored.
    """
    config = read_config(workdir)
    path = find_checkpoint(workdir, checkpoint)
    networks = CodecNetworks.from_config(config.model)
    paths = {"encoder": networks.encoder,
             "ema_generator" if config.ema_decay > 0 else "generator": networks.generator}
    if networks.semantic_features is not None:
        paths["semantic_features"] = networks.semantic_features
    model = tf.train.Checkpoint(**paths)
    require_all_restored(tf.train.Checkpoint(**{MODEL_PATH: model}).restore(path),
                         f"{path} does not hold the networks its config.json describes")
    return RestoredNetworks(networks, config, checkpoint_step(path))


def networks_from_saved_model(path: str, model_config: ml_collections.ConfigDict
                              ) -> CodecNetworks:
    """The Keras networks of a full SavedModel export, rebuilt from its model config with its
    variables restored: differentiable, unlike the export's graphs (which only map uint8 to
    symbols), and what `export.py --saved_model` writes out again."""
    networks = CodecNetworks.from_config(model_config)
    variables = os.path.join(path, "variables", "variables")
    nested = any(name.startswith("networks/") for name, _ in tf.train.list_variables(variables))
    if nested:  # exports since CodecNetworks: root.networks.{encoder, generator, ...}
        root = tf.train.Checkpoint(networks=networks)
    else:  # exports before CodecNetworks: root.{encoder, generator}
        root = tf.train.Checkpoint(encoder=networks.encoder, generator=networks.generator)
    require_all_restored(root.read(variables),
                         f"{path}: its variables do not fit the networks its config describes")
    return networks


def _takes_max_pixels(function) -> bool:
    """Whether a module's decompress_one has the max_pixels input (exports before it lack it,
    and rely on the Python check alone)."""
    concrete = getattr(function, "concrete_functions", None)  # set on restored functions
    return not concrete or len(concrete[0].structured_input_signature[0]) > 1


@contextlib.contextmanager
def _memory_errors(what: str):
    """Out-of-memory inside TF as a tfgc error that says what to do."""
    try:
        yield
    except tf.errors.ResourceExhaustedError:
        raise ResourceLimitError(
            f"out of memory {what}; free memory, or refuse large files with a lower "
            "max_pixels") from None


def _latest_version(root: str) -> str | None:
    versions = [d for d in os.listdir(root) if d.isdigit()
                and os.path.exists(os.path.join(root, d, "saved_model.pb"))]
    return os.path.join(root, max(versions, key=int)) if versions else None


def load_codec(path: str | None = None) -> Codec:
    """A codec from a training workdir, a SavedModel, an export root, or (None) the bundled
    model shipped with tfgc."""
    if path is None:
        from tfgc.assets import BUNDLED_MODEL_DIR

        if not os.path.exists(os.path.join(BUNDLED_MODEL_DIR, "saved_model.pb")):
            raise ModelLoadError("no bundled model in this installation; pass --model PATH "
                                 "(a training workdir or an exported SavedModel)")
        return Codec.from_saved_model(BUNDLED_MODEL_DIR)
    if not os.path.exists(path):
        raise ModelLoadError(f"model path does not exist: {path}")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return Codec.from_saved_model(path)
    if os.path.isdir(os.path.join(path, SAVED_MODEL_NAME)):
        version = _latest_version(os.path.join(path, SAVED_MODEL_NAME))
        if version:
            return Codec.from_saved_model(version)
    if os.path.exists(os.path.join(path, CONFIG_FILE)):
        return Codec.from_workdir(path)
    raise ModelLoadError(f"{path} is neither a training workdir (config.json + checkpoints) "
                         "nor a tfgc SavedModel export")


__all__ = ["BitstreamError", "Codec", "CompressResult", "load_codec"]
