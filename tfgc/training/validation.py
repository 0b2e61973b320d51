"""Checks a whole training config before anything is built, so no accepted config crashes later.

`validate_config` runs first in `train()`: every enum, range and combination the training code
cannot honour is refused with one ConfigError naming the field, the value and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_collections

from tfgc.coding.format import MAX_CENTERS, MAX_CHANNELS, MIN_CENTERS
from tfgc.config import check_semantic
from tfgc.data.pipeline import ON_CORRUPT
from tfgc.errors import ConfigError
from tfgc.layers.blocks import PADDINGS, UPSAMPLINGS
from tfgc.layers.norms import NORMS
from tfgc.losses.gan import GAN_LOSSES
from tfgc.training.distribute import DISTRIBUTIONS
from tfgc.training.schedules import SCHEDULES


def _one_of(name: str, value, choices: Sequence) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not an option; choose one of "
                          f"{', '.join(map(str, choices))}")


def _at_least(name: str, value, low) -> None:
    if value < low:
        raise ConfigError(f"{name}={value!r} must be >= {low}")


def _positive(name: str, value) -> None:
    if not value > 0:
        raise ConfigError(f"{name}={value!r} must be > 0")


def _fraction(name: str, value, open_top: bool = True) -> None:
    if not (0.0 <= value < 1.0 if open_top else 0.0 <= value <= 1.0):
        raise ConfigError(f"{name}={value!r} must be in [0, {'1)' if open_top else '1]'}")


def _widths(name: str, values: Sequence[int]) -> None:
    if not values or any(int(v) <= 0 for v in values):
        raise ConfigError(f"{name}={tuple(values)!r} must be a non-empty list of positive widths")


def _validate_scale_weights(weights: Sequence[float], scales: int) -> None:
    """d_scale_weights: () or one non-negative weight per D scale, not all zero."""
    if not weights:
        return
    if len(weights) != scales:
        raise ConfigError(f"d_scale_weights={tuple(weights)!r} has {len(weights)} weights but D "
                          f"has model.discriminator_scales={scales}; give one per scale "
                          "(full resolution first) or () for equal weights")
    if any(float(w) < 0 for w in weights) or not sum(float(w) for w in weights) > 0:
        raise ConfigError(f"d_scale_weights={tuple(weights)!r} must be >= 0 and not all 0")


def _validate_model(m: ml_collections.ConfigDict) -> int:
    """Checks config.model; returns the encoder's downsampling factor."""
    if not 1 <= m.num_channels <= MAX_CHANNELS:
        raise ConfigError(f"model.num_channels={m.num_channels} must be in 1..{MAX_CHANNELS} "
                          "(what the .tfgc format can carry)")
    centers = [float(c) for c in m.centers]
    if not MIN_CENTERS <= len(centers) <= MAX_CENTERS:
        raise ConfigError(f"model.centers has {len(centers)} values; the quantizer and the .tfgc "
                          f"format need {MIN_CENTERS}..{MAX_CENTERS}")
    if any(b <= a for a, b in zip(centers, centers[1:])):
        raise ConfigError(f"model.centers={tuple(centers)} must be strictly increasing")
    _positive("model.quantizer_temperature", m.quantizer_temperature)
    _at_least("model.noise_channels", m.noise_channels, 0)
    _positive("model.width_multiplier", m.width_multiplier)
    _widths("model.encoder_filters", m.encoder_filters)
    _widths("model.upsample_filters", m.upsample_filters)
    _widths("model.discriminator_filters", m.discriminator_filters)
    _positive("model.generator_filters", m.generator_filters)
    if len(m.encoder_filters) != len(m.upsample_filters) + 1:
        raise ConfigError(
            f"model.encoder_filters has {len(m.encoder_filters) - 1} downsampling stages but "
            f"model.upsample_filters has {len(m.upsample_filters)} upsampling stages; G must "
            "undo E's downsampling, so give one more encoder width than upsample widths")
    _at_least("model.num_residual_blocks", m.num_residual_blocks, 0)
    for field in ("encoder_norm", "generator_norm", "generator_upsample_norm",
                  "discriminator_norm"):
        _one_of(f"model.{field}", m[field], NORMS)
    _one_of("model.upsampling", m.upsampling, UPSAMPLINGS)
    _one_of("model.padding", m.padding, PADDINGS)
    _at_least("model.latent_init_std", m.latent_init_std, 0.0)
    _at_least("model.discriminator_scales", m.discriminator_scales, 1)
    return 2 ** (len(m.encoder_filters) - 1)


def _validate_data(d: ml_collections.ConfigDict, stride: int) -> None:
    if d.crop_size <= 0 or d.crop_size % stride:
        raise ConfigError(f"data.crop_size={d.crop_size} must be a positive multiple of {stride}")
    if d.eval_crop_size < 0 or d.eval_crop_size % stride:
        raise ConfigError(f"data.eval_crop_size={d.eval_crop_size} must be 0 (whole images) "
                          f"or a positive multiple of {stride}")
    _positive("data.num_eval_images", d.num_eval_images)
    _one_of("data.on_corrupt", d.on_corrupt, ON_CORRUPT)
    _positive("data.shuffle_buffer", d.shuffle_buffer)


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError for the first field train() could not honour."""
    check_semantic(config)  # mode, label maps and conditioning
    stride = _validate_model(config.model)
    _validate_data(config.data, stride)
    _at_least("num_steps", config.num_steps, 0)
    _at_least("warmup_steps", config.warmup_steps, 0)
    _at_least("d_warmup_steps", config.d_warmup_steps, 0)
    _at_least("gan_weight_end", config.gan_weight_end, 0.0)
    _positive("batch_size", config.batch_size)
    _at_least("d_steps", config.d_steps, 1)
    _validate_scale_weights(config.d_scale_weights, config.model.discriminator_scales)
    _one_of("gan_loss", config.gan_loss, GAN_LOSSES)
    if config.gan_loss == "wgan_gp" and config.model.discriminator_norm == "batch":
        raise ConfigError("gan_loss=wgan_gp penalises each sample's critic gradient, which batch "
                          "norm couples across the batch (Gulrajani et al. 2017, sec. 4); use "
                          "model.discriminator_norm=instance or none")
    _positive("lowpass_factor", config.lowpass_factor)
    for field in ("lambda_mse", "lambda_fm", "lambda_vgg", "lambda_lowpass", "lambda_ms_ssim",
                  "beta_rate", "gradient_penalty_weight"):
        _at_least(field, config[field], 0.0)
    if config.lambda_ms_ssim > 0 and config.model.mode == "sc":
        raise ConfigError("lambda_ms_ssim is for model.mode=gc or gc_dplus: sc restricts the "
                          "distortion to the preserved pixels, which MS-SSIM's windows cross")
    _fraction("ema_decay", config.ema_decay)
    _positive("lr", config.lr)
    _positive("d_lr", config.d_lr)
    _one_of("lr_schedule", config.lr_schedule, SCHEDULES)
    _fraction("lr_decay_start", config.lr_decay_start, open_top=False)
    _fraction("adam_beta1", config.adam_beta1)
    _fraction("adam_beta2", config.adam_beta2)
    _one_of("distribution", config.distribution, DISTRIBUTIONS)
    _positive("cpu_replicas", config.cpu_replicas)
    if config.cpu_replicas > 1 and config.distribution != "mirrored":
        raise ConfigError(f"cpu_replicas={config.cpu_replicas} only applies to "
                          "distribution=mirrored")
    for field in ("log_every", "checkpoint_every", "sample_every", "eval_every",
                  "keep_checkpoints"):
        _positive(field, config[field])
