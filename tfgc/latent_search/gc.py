"""Encoder-side latent optimisation for a GC model: better symbols for the same decoder.

E(x) is only a fast guess at the symbols from which G renders x best. Starting there, Adam moves
the continuous latent; the forward pass quantises it to the nearest center (what the decoder will
see) and gradients flow through the quantiser's soft assignment (straight-through), so every
scored iterate is an actual file's reconstruction. The best symbols found are written as an
ordinary `.tfgc` file that every decoder of the model reads unchanged.

The loss may include a rate term "w*bpp": the symbols' code length in bits per pixel under the
model's context tables (or, for a model without tables, a per-channel table of E(x)'s symbols).
Its forward value is the exact length under those tables, its gradient the expected length
under the soft assignment, so the search trades bits for distortion instead of spending more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfgc.coding.contexts import context_index
from tfgc.coding.tables import model_tables_structure
from tfgc.data.padding import edge_pad
from tfgc.errors import ConfigError
from tfgc.latent_search.losses import ImageLoss, parse_loss
from tfgc.latent_search.search import LatentSearch, SearchResult, SearchSettings
from tfgc.latent_search.settings import (
    DEFAULT_LEARNING_RATE,
    DEFAULT_LOSS,
    PATIENCE,
    TOLERANCE,
)
from tfgc.layers.noise import latent_noise

RATE_TERM = "bpp"


def parse_gc_loss(spec: str) -> tuple[dict[str, float], float]:
    """"mse+0.2*bpp" -> ({"mse": 1.0}, 0.2): image-term weights and the rate weight."""
    weights = parse_loss(spec, extra_terms=(RATE_TERM,))
    rate_weight = weights.pop(RATE_TERM, 0.0)
    if not any(weights.values()):
        raise ConfigError(f"loss {spec!r} needs an image term besides {RATE_TERM}")
    return weights, rate_weight


def code_length_table(model_tables: np.ndarray | None, initial_symbols: np.ndarray,
                      num_centers: int) -> tuple[np.ndarray, int]:
    """(bits [K, L] per context and symbol, context structure) for the rate term."""
    channels = initial_symbols.shape[-1]
    if model_tables is not None:
        structure = model_tables_structure(model_tables, num_centers, channels)
        probabilities = model_tables / model_tables.sum(1, keepdims=True)
    else:
        structure = 0
        counts = np.stack([np.bincount(initial_symbols[..., c].ravel(), minlength=num_centers)
                           for c in range(channels)]) + 0.5
        probabilities = counts / counts.sum(1, keepdims=True)
    return (-np.log2(probabilities)).astype(np.float32), structure


class SymbolOptimizer:
    """Optimises one image's symbols for `networks` (E, q, G, noise channels, stride).

    loss: what "better" means: image terms (see `tfgc.latent_search.losses`) measured on the
    image the decoder will produce, cropped to the original size, plus optionally "w*bpp".
    The result is never worse under this loss than E(x)'s symbols: they are the first candidate.
    """

    def __init__(self, networks, loss: str = DEFAULT_LOSS,
                 learning_rate: float = DEFAULT_LEARNING_RATE,
                 model_tables: np.ndarray | None = None):
        self.networks = networks
        weights, self.rate_weight = parse_gc_loss(loss)
        self.loss = ImageLoss(weights)
        self.learning_rate = learning_rate
        self.model_tables = model_tables
        self._structure = 0
        self._search = LatentSearch(self._objective)

    def _objective(self, latents, target, noise_seed, code_lengths):
        quantized, symbols = self.networks.quantizer(latents)
        noise = (latent_noise(quantized, self.networks.noise_channels, noise_seed)
                 if self.networks.noise_channels else None)
        image = (self.networks.generator(quantized, noise, None, training=False) + 1.0) / 2.0
        height, width = target.shape[1], target.shape[2]
        loss = self.loss(target, image[:, :height, :width])
        if self.rate_weight:
            loss += self.rate_weight * self._bits(latents, symbols, code_lengths) / (
                height * width)
        return loss, symbols

    def _bits(self, latents, symbols, code_lengths):
        """Code length of `symbols` [1, h, w, C] (straight-through to the soft expectation)."""
        contexts = context_index(symbols[0], self.networks.quantizer.num_centers,
                                 self._structure)
        lengths = tf.gather(code_lengths, contexts)  # [h, w, C, L]
        soft = tf.reduce_sum(self.networks.quantizer.soft_assignment(latents)[0] * lengths, -1)
        hard = tf.gather(lengths, symbols[0], batch_dims=3)
        soft, hard = tf.reduce_sum(soft), tf.reduce_sum(hard)
        return (soft + tf.stop_gradient(hard - soft))[tf.newaxis]

    def initial_latents(self, pixels: np.ndarray) -> tf.Tensor:
        padded = edge_pad(tf.constant(pixels), self.networks.stride)
        images = tf.cast(padded, tf.float32)[tf.newaxis] / 255.0
        return self.networks.encoder(images * 2.0 - 1.0, training=False)

    def optimize(self, pixels: np.ndarray, steps: int, noise_seed: int = 0,
                 progress: Callable[[int, np.ndarray], None] | None = None
                 ) -> tuple[np.ndarray, SearchResult]:
        """uint8 [H, W, 3] -> (int32 symbols [h, w, C], the search's record)."""
        target = tf.constant(pixels, tf.float32)[tf.newaxis] / 255.0
        latents = self.initial_latents(pixels)
        initial = self.networks.quantizer.symbols(latents)[0].numpy()
        lengths, self._structure = code_length_table(
            self.model_tables, initial, self.networks.quantizer.num_centers)
        settings = SearchSettings(steps, self.learning_rate, patience=PATIENCE,
                                  tolerance=TOLERANCE)
        result = self._search.run(
            latents, (target, tf.constant(noise_seed, tf.int64), tf.constant(lengths)),
            settings, progress)
        return result.payload[0].astype(np.int32), result
