"""Learning-rate schedules selectable by name, and the GAN terms' weight over training."""

from __future__ import annotations

import math

import ml_collections
import tensorflow as tf

from tfgc.errors import ConfigError

SCHEDULES = ("constant", "linear_decay", "cosine")


class DecayAfter(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Constant until `start`, then linear (pix2pixHD) or cosine decay to 0 at `end`."""

    def __init__(self, lr: float, start: int, end: int, kind: str):
        self.lr, self.start, self.end, self.kind = lr, start, end, kind

    def __call__(self, step):
        progress = _progress(step, self.start, self.end)
        if self.kind == "cosine":
            return self.lr * 0.5 * (1.0 + tf.cos(math.pi * progress))
        return self.lr * (1.0 - progress)

    def get_config(self):
        return {"lr": self.lr, "start": self.start, "end": self.end, "kind": self.kind}


def _progress(step, start: int, end: int) -> tf.Tensor:
    """0 until `start`, linear to 1 at `end`, 1 after: where a schedule is, as a float32."""
    step = tf.cast(step, tf.float32)
    return tf.clip_by_value((step - start) / max(1, end - start), 0.0, 1.0)


def make_schedule(kind: str, lr: float, num_steps: int, decay_start: float):
    if kind == "constant":
        return lr
    if kind not in SCHEDULES:
        raise ConfigError(f"unknown lr_schedule {kind!r}; choose one of {SCHEDULES}")
    return DecayAfter(lr, int(decay_start * num_steps), num_steps, kind)


def current_value(schedule, step: int) -> float:
    return float(schedule(step)) if callable(schedule) else float(schedule)


class LinearRamp:
    """`first` until step `start`, then linear to `last` at step `end` (held after it)."""

    def __init__(self, first: float, last: float, start: int, end: int):
        self.first, self.last, self.start, self.end = first, last, start, end

    def __call__(self, step):
        return self.first + (self.last - self.first) * _progress(step, self.start, self.end)


def gan_weight_schedule(gan_start: int, num_steps: int, weight_end: float) -> LinearRamp | None:
    """G's GAN and feature-matching weight: 1 at `gan_start` (after any D warm-up), linear to
    `weight_end` at `num_steps`; None when it stays 1."""
    if weight_end == 1.0:
        return None
    return LinearRamp(1.0, weight_end, gan_start, num_steps)


def gan_start(config: ml_collections.ConfigDict) -> int:
    """The first step at which G sees the GAN terms."""
    return config.warmup_steps + config.d_warmup_steps


def resume_reevaluation(previous: ml_collections.ConfigDict, current: ml_collections.ConfigDict,
                        step: int) -> dict[str, tuple[float, float]]:
    """What a resumed run computes from the new config instead of the one it ran with: the
    phases, the GAN-weight ramp and the lr schedules are functions of the step and config fields,
    not state in the checkpoint. Name -> (value at `step` under `previous`, under `current`),
    for each of them a change touches."""
    def changed(*fields: str) -> bool:
        return any(previous[k] != current[k] for k in fields)

    configs = (previous, current)
    out = {}
    if changed("warmup_steps", "d_warmup_steps"):
        out["gan_start"] = tuple(gan_start(c) for c in configs)
    if (changed("num_steps", "warmup_steps", "d_warmup_steps", "gan_weight_end")
            and {previous.gan_weight_end, current.gan_weight_end} != {1.0}):
        out["gan_weight"] = tuple(gan_weight_at(c, step) for c in configs)
    decaying = {previous.lr_schedule, current.lr_schedule} != {"constant"}
    if changed("lr", "d_lr", "lr_schedule", "lr_decay_start") or (decaying
                                                                   and changed("num_steps")):
        for name in ("lr", "d_lr"):
            out[name] = tuple(current_value(make_schedule(c.lr_schedule, c[name], c.num_steps,
                                                          c.lr_decay_start), step)
                              for c in configs)
    return out


def gan_weight_at(config: ml_collections.ConfigDict, step: int) -> float:
    """G's GAN and feature-matching weight at `step` once the GAN phase has started."""
    ramp = gan_weight_schedule(gan_start(config), config.num_steps, config.gan_weight_end)
    return 1.0 if ramp is None else float(ramp(step))
