"""E, q and the inference G of a trained model: everything encoding and decoding need.

One object owns the facts a codec depends on (stride, C, L, the bpp bound, noise channels)
and the two functions between pixels and symbols. `GenerativeCompression` trains these same
networks; the Python codec and the SavedModels run them. Nothing here knows about training
(no D, losses, optimizers or schedules).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from tfgc.errors import ConfigError
from tfgc.layers.noise import latent_noise
from tfgc.layers.quantizer import Quantizer
from tfgc.networks.encoder import Encoder
from tfgc.networks.generator import Generator
from tfgc.networks.semantic import SemanticFeatureExtractor
from tfgc.networks.tiling import DEFAULT_TILE_POSITIONS, RowsFunction, RowTiles


def make_encoder(model_config: Any) -> Encoder:
    c = model_config
    return Encoder(c.num_channels, c.encoder_filters, c.encoder_norm, c.padding,
                   c.width_multiplier)


def make_quantizer(model_config: Any) -> Quantizer:
    return Quantizer(model_config.centers, model_config.quantizer_temperature)


def make_generator(model_config: Any, name: str = "generator") -> Generator:
    c = model_config
    return Generator(c.generator_filters, c.num_residual_blocks, c.upsample_filters,
                     c.generator_norm, c.generator_upsample_norm, c.upsampling, c.padding,
                     c.width_multiplier, name=name)


def make_semantic_features(model_config: Any) -> SemanticFeatureExtractor | None:
    """SC's F (label map -> features at latent resolution); None in the other modes."""
    c = model_config
    if model_mode(c) != "sc":
        return None
    return SemanticFeatureExtractor(c.semantic_filters, c.encoder_norm, c.padding,
                                    c.width_multiplier)


def model_mode(model_config: Any) -> str:
    """gc | gc_dplus | sc; configs written before the semantic modes existed are gc."""
    return model_config.get("mode", "gc") if hasattr(model_config, "get") else "gc"


class CodecNetworks(tf.Module):
    """E, q and G (the EMA copy when training kept one), with analysis and synthesis; in the
    selective-compression mode also F, which turns the label map into G's extra input.

    Images are float32 in [0, 1]; symbols are int32 quantizer indices 0..L-1. Both functions
    work on whole batches and any size that is a multiple of `stride`, so a caller may tile.
    """

    def __init__(self, model_config: Any, encoder: Encoder, quantizer: Quantizer,
                 generator: Generator,
                 semantic_features: SemanticFeatureExtractor | None = None,
                 name: str = "codec_networks"):
        super().__init__(name=name)
        if encoder.downsampling_factor != generator.upsampling_factor:
            raise ConfigError(
                f"the encoder downsamples by {encoder.downsampling_factor} but the generator "
                f"upsamples by {generator.upsampling_factor}: model.encoder_filters needs one "
                "more entry than model.upsample_filters")
        self.model_config = model_config
        self.encoder, self.quantizer, self.generator = encoder, quantizer, generator
        self.semantic_features = semantic_features
        self.mode = model_mode(model_config)
        if (self.mode == "sc") != (semantic_features is not None):
            raise ConfigError("the selective-compression mode needs F, the other modes none")
        self.noise_channels = int(model_config.noise_channels)
        self.condition_channels = int(model_config.condition_channels)
        # One-image analysis and synthesis run E and G's upsampler in tiles of about this many
        # latent positions (16 x 16 pixels each): memory bounded whatever the image size.
        self.tile_positions = DEFAULT_TILE_POSITIONS

    @classmethod
    def from_config(cls, model_config: Any, generator_name: str = "generator") -> CodecNetworks:
        """Fresh networks with every variable created, ready to restore weights into."""
        networks = cls(model_config, make_encoder(model_config), make_quantizer(model_config),
                       make_generator(model_config, generator_name),
                       make_semantic_features(model_config))
        networks.build()
        return networks

    def build(self) -> None:
        """Creates every variable (one tiny forward pass through E and G). q, weightless, is
        called too: a SavedModel holding an unbuilt Keras layer prints a warning for it."""
        symbols = self.analysis(tf.zeros([1, self.stride, self.stride, 3]))
        self.quantizer(tf.zeros([1, 1, 1, self.num_channels]))
        label_map = (tf.zeros([1, self.stride, self.stride, self.condition_channels])
                     if self.mode == "sc" else None)
        self.synthesis(symbols, 0, label_map)

    # ----------------------------------------------------------------------------------------
    # The facts a codec and a file format depend on.

    @property
    def stride(self) -> int:
        """Pixels per latent position along each side (16 for the paper's encoder)."""
        return self.encoder.downsampling_factor

    @property
    def num_channels(self) -> int:
        """C: latent channels."""
        return self.encoder.num_channels

    @property
    def num_centers(self) -> int:
        """L: quantizer centers."""
        return self.quantizer.num_centers

    @property
    def bpp_bound(self) -> float:
        """dim(w) * log2(L) / pixels: the rate bound the paper quotes, in bits per pixel."""
        return self.num_channels * math.log2(self.num_centers) / self.stride**2

    @property
    def synthesis_variables(self) -> list[tf.Variable]:
        """Every variable `synthesis` reads (G's, and F's in the SC mode), in a fixed order."""
        nets = [self.generator] + ([self.semantic_features] if self.semantic_features else [])
        return [weight for net in nets for weight in net.weights]

    # ----------------------------------------------------------------------------------------
    def analysis(self, images: tf.Tensor) -> tf.Tensor:
        """images [B, H, W, 3] in [0, 1], H and W multiples of `stride` -> int32 symbols
        [B, H/stride, W/stride, C]."""
        return self.quantizer.symbols(self.encoder(images * 2.0 - 1.0, training=False))

    def synthesis(self, symbols: tf.Tensor, noise_seed: tf.Tensor | int = 0,
                  label_map: tf.Tensor | None = None,
                  latent_mask: tf.Tensor | None = None) -> tf.Tensor:
        """int32 symbols [B, h, w, C] -> images [B, stride*h, stride*w, 3] in [0, 1].

        noise_seed: one uint32 seed for the batch, or one per item ([B]); only used when the
        model has noise channels. SC models also take the one-hot label map
        [B, stride*h, stride*w, K] and the latent preservation mask [B, h, w, 1] (default: all
        preserved).
        """
        latents = self.quantizer.dequantize(symbols)
        noise = (latent_noise(latents, self.noise_channels, noise_seed)
                 if self.noise_channels else None)
        latents, condition = self.selective_inputs(latents, label_map, latent_mask)
        images = self.generator(latents, noise, condition, training=False)
        return (images + 1.0) / 2.0

    # One image in tiles of latent rows (networks/tiling): memory bounded whatever its size.
    # The same symbols and pixels as `analysis` and `synthesis`, up to float rounding, when
    # the norms are per-pixel.
    def analysis_tiles(self, rows, columns) -> RowTiles:
        """The encoder's tiles of an image of [rows x columns] latent positions; each tile
        is `analysis` of its rows (with the halo), cropped."""
        return self.encoder.row_tiles(rows, columns, self.tile_positions)

    def synthesis_features(self, symbols: tf.Tensor, noise_seed: tf.Tensor | int = 0,
                           train_ids: tf.Tensor | None = None,
                           latent_mask: tf.Tensor | None = None) -> tf.Tensor:
        """G's trunk for ONE image (symbols [1, h, w, C]): the latent-resolution features
        [1, h, w, width] that `synthesis_rows` upsamples tile by tile. SC models take the
        image's train ids [stride*h, stride*w] (not the one-hot map: F runs in tiles of
        latent rows, `semantic_condition`) and the latent mask [1, h, w, 1]."""
        latents = self.quantizer.dequantize(symbols)
        noise = (latent_noise(latents, self.noise_channels, noise_seed)
                 if self.noise_channels else None)
        condition = None
        if self.mode == "sc":
            if train_ids is None:
                raise ValueError("an SC model needs the label map")
            latents = _masked(latents, latent_mask)
            condition = tf.cast(self.semantic_condition(train_ids), latents.dtype)
        return self.generator.trunk(latents, noise, condition)

    def semantic_condition(self, train_ids: tf.Tensor) -> tf.Tensor:
        """SC: F of ONE image's train ids [H, W] (multiples of stride; ids >= K ignored) ->
        [1, H/stride, W/stride, k_last], in the same tile budget as E and G."""
        return self.semantic_features.features_in_tiles(train_ids, self.condition_channels,
                                                        self.tile_positions)

    def synthesis_tiles(self, features: tf.Tensor) -> RowTiles:
        return self.generator.row_tiles(features, self.tile_positions)

    def synthesis_rows(self, features: tf.Tensor, finish=tf.identity) -> RowsFunction:
        """Latent rows [first, last) of `features` -> finish(image rows in [0, 1])."""
        return lambda first, last: finish(
            (self.generator.upsample(features[:, first:last]) + 1.0) / 2.0)

    def selective_inputs(self, quantized: tf.Tensor, label_map: tf.Tensor | None,
                         latent_mask: tf.Tensor | None, training: bool = False):
        """G's latent and condition inputs. SC: (w_hat * m, F(s)); other modes: (w_hat, None)."""
        if self.mode != "sc":
            return quantized, None
        if label_map is None:
            raise ValueError("an SC model needs the label map")
        features = self.semantic_features(label_map, training=training)
        return _masked(quantized, latent_mask), tf.cast(features, quantized.dtype)


def _masked(quantized: tf.Tensor, latent_mask: tf.Tensor | None) -> tf.Tensor:
    """w_hat * m (SC: the latents not preserved are zero); no mask: all preserved."""
    if latent_mask is None:
        return quantized
    return quantized * tf.cast(latent_mask, quantized.dtype)
