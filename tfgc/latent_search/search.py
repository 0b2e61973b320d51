"""Adam on a latent tensor that keeps, per batch item, the best iterate it has seen.

The objective maps the latent [B, ...] to a loss [B] and a payload [B, ...] (what a caller keeps
for the best iterate: the latent itself, or the symbols it quantises to). Every iterate is
scored before it is updated, and a last forward pass scores the final update, so the returned
loss is never above the initial one: the starting point is a candidate too.

Items of a batch are independent (Adam normalises each element), so B random restarts of one
search cost one batched forward/backward per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfgc.errors import ConfigError

SCHEDULES = ("constant", "cosine")
_BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-8

# objective(latent, *args) -> (loss [B], payload [B, ...])
Objective = Callable[..., tuple[tf.Tensor, tf.Tensor]]
# project(latent, step) -> latent: a constraint applied after every update (e.g. clipping)
Projection = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class SearchSettings:
    steps: int
    learning_rate: float = 0.1
    schedule: str = "cosine"  # cosine decay to 0 over `steps`, or constant
    patience: int = 0  # stop when no item improved by `tolerance` for this many steps; 0: never
    tolerance: float = 0.0  # an improvement counts when it beats the best by this fraction

    def __post_init__(self):
        if self.steps < 0:
            raise ConfigError(f"steps must be >= 0, got {self.steps}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be > 0, got {self.learning_rate}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose from {SCHEDULES}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0, got {self.patience}")
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError(f"tolerance must be in [0, 1), got {self.tolerance}")

    def learning_rate_at(self, step: int) -> float:
        if self.schedule == "constant" or self.steps == 0:
            return self.learning_rate
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / self.steps))


@dataclass
class SearchResult:
    payload: np.ndarray  # [B, ...] of the best iterate per item
    latent: np.ndarray  # [B, ...] the best iterate per item
    loss: np.ndarray  # [B] its loss
    initial_loss: np.ndarray  # [B] the loss of the starting point
    history: np.ndarray  # [evaluations, B] loss of every scored iterate
    steps: int  # updates made (fewer than asked if it stopped early)
    state: tuple[np.ndarray, np.ndarray, np.ndarray]  # (latent, m, v) after the last update

    @property
    def best_item(self) -> int:
        return int(np.argmin(self.loss))


class LatentSearch:
    """One compiled step per objective and input shape, traced once and reused across steps,
    images and calls (the step number and learning rate are tensors, so they never retrace).
    The final iterate is scored by the same step (its update is dropped): a second, forward-only
    graph would cost a trace of its own, more than the extra backward pass. XLA
    (jit_compile) was measured slower on CPU for these graphs and cannot compile
    tf.image.ssim_multiscale's gradient, so it is not used."""

    def __init__(self, objective: Objective, project: Projection | None = None):
        self.objective = objective
        self.project = project
        self._step = tf.function(self._update, autograph=False)

    def _update(self, latent, m, v, step, learning_rate, *args):
        with tf.GradientTape() as tape:
            tape.watch(latent)
            loss, payload = self.objective(latent, *args)
            total = tf.reduce_sum(loss)
        grad = tape.gradient(total, latent)
        # (MS-)SSIM's powers of a zero contrast term have infinite slope: skip such elements
        # for this step rather than let one NaN end the search.
        grad = tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))
        t = tf.cast(step, tf.float32) + 1.0
        m = _BETA1 * m + (1.0 - _BETA1) * grad
        v = _BETA2 * v + (1.0 - _BETA2) * tf.square(grad)
        m_hat, v_hat = m / (1.0 - _BETA1**t), v / (1.0 - _BETA2**t)
        latent = latent - learning_rate * m_hat / (tf.sqrt(v_hat) + _EPSILON)
        if self.project is not None:
            latent = self.project(latent, step)
        return loss, payload, latent, m, v

    def run(self, initial, args: tuple = (), settings: SearchSettings = SearchSettings(10),
            progress: Callable[[int, np.ndarray], None] | None = None,
            resume: tuple[np.ndarray, np.ndarray, int] | None = None,
            until: int | None = None) -> SearchResult:
        """Minimises from `initial` [B, ...]; progress(step, best loss [B]) after each update.

        until: stop after this step (of `settings.steps`, whose schedule it keeps).
        resume: (m, v, steps done) of an earlier run's `state` to go on from, e.g. for some
        of its items only (items are independent: the same trajectory as in the batch); the
        schedule goes on from that step."""
        latent = tf.convert_to_tensor(initial, tf.float32)
        args = tuple(tf.convert_to_tensor(a) for a in args)
        m = v = tf.zeros_like(latent)
        first = 0
        if resume is not None:
            m, v = (tf.convert_to_tensor(x, tf.float32) for x in resume[:2])
            first = resume[2]
        best_loss = best_latent = best_payload = None
        history, stall, steps = [], 0, first

        def keep(loss, payload, candidate) -> bool:
            nonlocal best_loss, best_latent, best_payload
            loss, payload, candidate = loss.numpy(), payload.numpy(), candidate.numpy()
            history.append(loss)
            if best_loss is None:
                best_loss, best_latent, best_payload = loss, candidate, payload
                return True
            improved = loss < best_loss * (1.0 - settings.tolerance)
            better = loss < best_loss
            best_loss = np.where(better, loss, best_loss)
            shape = (-1,) + (1,) * (candidate.ndim - 1)
            best_latent = np.where(better.reshape(shape), candidate, best_latent)
            shape = (-1,) + (1,) * (payload.ndim - 1)
            best_payload = np.where(better.reshape(shape), payload, best_payload)
            return bool(improved.any())

        for step in range(first, settings.steps if until is None else until):
            rate = tf.constant(settings.learning_rate_at(step), tf.float32)
            loss, payload, updated, m, v = self._step(latent, m, v, tf.constant(step, tf.int64),
                                                      rate, *args)
            stall = 0 if keep(loss, payload, latent) else stall + 1
            latent, steps = updated, step + 1
            if progress is not None:
                progress(steps, best_loss)
            if settings.patience and stall >= settings.patience:
                break
        loss, payload, *_ = self._step(latent, m, v, tf.constant(steps, tf.int64),
                                       tf.constant(0.0), *args)
        keep(loss, payload, latent)
        return SearchResult(best_payload, best_latent, best_loss, history[0],
                            np.stack(history), steps, (latent.numpy(), m.numpy(), v.numpy()))
