"""GAN reversal: find z with G(z) close to an image, quantise it, and fine-tune the quantised z.

1. Search (Lipton & Tripathi 2017; the seed paper): `restarts` random z from the prior (the
   first replaced by a given z, or by the generator's encoder's z when it has one and
   `encoder_start` is on) are optimised together with Adam under a cosine step-size
   schedule, each clipped to the prior's range after every step ("clip"), resampled there where
   they leave it ("stochastic", Lipton & Tripathi's stochastic clipping), or left free ("none").
   Each restart keeps its best iterate. After `prune_after` steps only the restart with the
   lowest loss so far goes on (one image's batch instead of `restarts`: ~2.7x cheaper per step
   at 128x128); the search stops early once `patience` steps in a row improved the best by
   less than `tolerance` (a fraction of it).
2. Quantisation: z is rounded to a grid of `step` (0.1 in the seed), to {-1, 0, 1} ("ternary"),
   or to the finest step of `STEPS_FOR_TARGET` whose file fits `target_bpp`.
3. A quantisation-aware phase continues from each remaining restart's best z with the rounding
   in the forward pass (straight-through), so the quantised z that gets stored is what was
   optimised; the restart whose quantised reconstruction has the lowest loss wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.errors import ResourceLimitError, TfgcError
from tfgc.latent_search import ImageLoss, LatentSearch, SearchSettings
from tfgc.reversal.fileformat import LatentCode, encode_file
from tfgc.reversal.generators import ReversibleGenerator
from tfgc.reversal.settings import STEPS_FOR_TARGET, ReversalSettings, parse_quantization


@dataclass
class ReversalResult:
    code: LatentCode
    reconstruction: np.ndarray  # uint8 [H, W, 3] of the quantised z
    loss: float  # of the quantised z
    continuous_loss: float  # of the best continuous z, before quantisation
    restart_losses: np.ndarray  # [restarts] loss per restart when they were compared
    steps: int  # search steps made (early stopping may cut them)
    finetune_steps: int  # quantisation-aware steps made
    restart: int = 0  # the restart whose code was stored
    start: str = "random"  # where restart 0 started: "random", "given" or "encoder"


# The search back-propagates through G over the whole image for every restart: above this
# many pixels it needs more memory than a workstation has (768x512 is 0.4 MP).
MAX_REVERSE_PIXELS = 1 << 22


def check_pixels(pixels: np.ndarray) -> None:
    """A uint8 RGB image a reversal search can take (any generator)."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise TfgcError(f"expected a uint8 RGB image [H, W, 3], got {pixels.dtype} "
                        f"{pixels.shape}")
    if pixels.shape[0] * pixels.shape[1] > MAX_REVERSE_PIXELS:
        raise ResourceLimitError(
            f"a {pixels.shape[1]}x{pixels.shape[0]} image is too big to reverse (the search "
            f"runs G with gradients over the whole image; at most {MAX_REVERSE_PIXELS} pixels)")


def reversal_file(generator: ReversibleGenerator, code: LatentCode, coder: str = "range"
                  ) -> bytes:
    """The `.tfgz` file of a code found through `generator` (version 2 for prior + G)."""
    return encode_file(code, fingerprint=generator.fingerprint,
                       image_shape=generator.image_shape, prior_range=generator.prior_range,
                       coder=coder, model_fingerprint=generator.model_fingerprint)


def _check_image(generator: ReversibleGenerator, pixels: np.ndarray) -> None:
    check_pixels(pixels)
    if tuple(pixels.shape[:2]) != tuple(generator.image_shape):
        h, w = generator.image_shape
        raise TfgcError(f"the generator makes {w}x{h} images; this image is "
                        f"{pixels.shape[1]}x{pixels.shape[0]} (crop or resize it to {w}x{h})")


class Reverser:
    """Reverses images through one generator; compiled graphs are reused across images."""

    def __init__(self, generator: ReversibleGenerator, settings: ReversalSettings):
        self.generator, self.settings = generator, settings
        self.loss = ImageLoss(settings.loss)
        self.kind, self.quantization_value = parse_quantization(settings.quantization)
        self._search = LatentSearch(self._objective, self._project)
        self._finetune = LatentSearch(self._quantized_objective)

    # The continuous search.
    def _objective(self, z, target):
        return self.loss(target, self.generator(z)), z

    def _project(self, z, step):
        low, high = self.generator.prior_range
        if self.settings.clipping == "clip":
            return tf.clip_by_value(z, low, high)
        if self.settings.clipping == "stochastic":
            seed = tf.stack([step, tf.constant(7, tf.int64)])
            fresh = tf.random.stateless_uniform(tf.shape(z), seed, low, high)
            return tf.where((z < low) | (z > high), fresh, z)
        return z

    # The quantisation-aware phase.
    def _grid(self, z, step):
        k = tf.round(z / step)
        if self.kind == "ternary":
            k = tf.clip_by_value(k, -1.0, 1.0)
        return k

    def _quantized_objective(self, z, target, step):
        k = self._grid(z, step)
        quantized = z + tf.stop_gradient(k * step - z)
        return self.loss(target, self.generator(quantized)), k

    def _code(self, k: np.ndarray, step: float) -> LatentCode:
        k = np.asarray(k).astype(np.int64).ravel()
        low, high = self.generator.prior_range
        k_min = min(int(k.min()), int(np.floor(low / step + 0.5)))
        k_max = max(int(k.max()), int(np.ceil(high / step - 0.5)))
        return LatentCode((k - k_min).astype(np.int32), float(step), k_min, k_max - k_min + 1)

    def _file_bits(self, code: LatentCode) -> int:
        return 8 * len(reversal_file(self.generator, code, self.settings.coder))

    def _choose_step(self, z: np.ndarray, pixels: int) -> float:
        if self.kind != "bpp":
            return self.quantization_value
        budget = self.quantization_value * pixels
        fitting = [s for s in STEPS_FOR_TARGET
                   if self._file_bits(self._code(np.round(z / s), s)) <= budget]
        if not fitting:
            raise TfgcError(f"no quantisation step fits {self.quantization_value} bpp "
                            f"(coarsest step {STEPS_FOR_TARGET[0]} needs more)")
        return min(fitting)

    def reverse(self, pixels: np.ndarray, initial_z: np.ndarray | None = None,
                progress: Callable[[int, np.ndarray], None] | None = None) -> ReversalResult:
        """uint8 [H, W, 3] (the generator's size) -> the quantised code and its picture."""
        _check_image(self.generator, pixels)
        s = self.settings
        target = tf.constant(pixels, tf.float32)[tf.newaxis] / 255.0
        starts = self.generator.sample_latents(s.restarts, s.seed).numpy()
        start = "random" if initial_z is None else "given"
        if initial_z is None and s.encoder_start and self.generator.encode is not None:
            initial_z, start = self.generator.encode(target).numpy(), "encoder"
        if initial_z is not None:
            starts[0] = np.asarray(initial_z, np.float32).reshape(starts[0].shape)
        search = SearchSettings(s.steps, s.learning_rate, patience=s.patience,
                                tolerance=s.tolerance)
        targets, resume, restart_losses = tf.repeat(target, s.restarts, axis=0), None, None
        pruned = None  # the restart that went on alone
        if 0 < s.prune_after < s.steps and s.restarts > 1:
            # All restarts for prune_after steps, then the best goes on alone along its own
            # trajectory (its Adam moments and schedule position: as if still in the batch).
            explored = self._search.run(starts, (targets,), dataclasses.replace(
                search, patience=0), progress, until=s.prune_after)
            best, (latent, m, v) = explored.best_item, explored.state
            pruned = best
            restart_losses, targets = explored.loss, target
            starts, resume = latent[best:best + 1], (m[best:best + 1], v[best:best + 1],
                                                     explored.steps)
        found = self._search.run(starts, (targets,), search, progress, resume)
        z, continuous = found.latent, found.loss
        if restart_losses is not None and restart_losses[best] < found.loss[0]:
            z, continuous = explored.latent[best:best + 1], restart_losses[best:best + 1]
        k = int(np.argmin(continuous))
        step = self._choose_step(z[k], pixels.shape[0] * pixels.shape[1])
        tuned = self._finetune.run(z, (targets, tf.constant(step, tf.float32)),
                                   SearchSettings(s.finetune_steps, s.finetune_learning_rate))
        best = tuned.best_item
        code = self._code(tuned.payload[best], step)
        return ReversalResult(code, self.generator.picture(code.values()),
                              float(tuned.loss[best]),
                              float(continuous[k]),
                              tuned.loss if restart_losses is None else restart_losses,
                              found.steps, tuned.steps, best if pruned is None else pruned,
                              start)
