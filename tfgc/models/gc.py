"""Generative compression (GC), Agustsson et al. ICCV 2019, as one Keras model.

E encodes an image to H/16 x W/16 x C latents, q quantises them to L centers, G decodes the
quantised latents (plus optional noise) to an image, and a multi-scale D judges it. `train_step`
updates E and G together on  GAN + lambda_mse * MSE + lambda_fm * FM [+ lambda_vgg * VGG]
[+ lambda_ms_ssim * (1 - MS-SSIM)] [+ beta * rate], then D `d_steps` times (pix2pixHD's
schedule: one forward pass serves both updates). Every D update of a step sees the same real
batch and the same reconstructions, made by E and G before their update in that step; with
d_steps > 1 D is optimised further on that pair (with a fresh interpolation draw for WGAN-GP
each time). This is not WGAN's n_critic, which draws new real and fake batches per critic
update: a Keras step receives one batch. While `gan_active` is False (the distortion-only
warm-up) the discriminator is neither run nor updated; while `d_warmup` is also True, D learns
but E and G still see distortion only (no GAN or FM gradient).
An optional `gan_weight` schedule of the step scales G's GAN and FM terms (e.g. a decay).

Semantic modes (paper Sec. 4.1-4.2), chosen by `mode`: "gc_dplus" feeds the one-hot label map
to D only, in training (E and G never see it, so coding is unchanged); "sc" also feeds it
through F to G at latent resolution, zeroes the quantised latents outside a preservation mask
and restricts the pixel distortion to the preserved region (FM, VGG and GAN stay unmasked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from tfgc.layers.noise import latent_noise
from tfgc.losses import gan as gan_losses
from tfgc.losses.distortion import lowpass_mse, ms_ssim_distortion
from tfgc.losses.perceptual import VGGLoss
from tfgc.metrics import ms_ssim, psnr
from tfgc.networks import CodecNetworks, Generator, MultiScaleDiscriminator
from tfgc.networks.codec_networks import (
    make_encoder,
    make_generator,
    make_quantizer,
    make_semantic_features,
)
from tfgc.semantic import masks

_G_TRACKERS = ("g_loss", "mse", "lowpass_mse", "ms_ssim_loss", "psnr", "gan_g", "feature_matching",
               "gan_weight", "vgg", "rate_bpp", "entropy_bpp", "bpp_bound", "preserved_fraction")
_D_TRACKERS = ("d_loss", "gan_d", "gradient_penalty")


def _loss_for_gradients(optimizer, loss: tf.Tensor) -> tf.Tensor:
    """The loss to differentiate (call inside the tape).

    Optimizers sum gradients over replicas while each replica's loss is a mean over its own
    batch, so divide by the replica count; mixed precision also scales the loss.
    """
    loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        loss = optimizer.get_scaled_loss(loss)
    return loss


def _minimize(optimizer, tape: tf.GradientTape, loss: tf.Tensor, variables) -> None:
    grads = tape.gradient(loss, variables)
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        grads = optimizer.get_unscaled_gradients(grads)
    optimizer.apply_gradients(zip(grads, variables))


def symbol_entropy_bpp(symbols: tf.Tensor, num_centers: int, pixels_per_latent: int) -> tf.Tensor:
    """Empirical per-channel entropy of integer symbols [B, h, w, C], in bits per image pixel."""
    counts = tf.reduce_sum(tf.one_hot(symbols, num_centers), axis=[0, 1, 2])  # [C, L]
    return _entropy_bpp(counts, pixels_per_latent)


def _entropy_bpp(counts: tf.Tensor, pixels_per_latent: int) -> tf.Tensor:
    p = counts / tf.reduce_sum(counts, axis=-1, keepdims=True)
    bits_per_latent_position = tf.reduce_sum(-p * tf.math.log(p + 1e-12) / math.log(2.0))
    return bits_per_latent_position / pixels_per_latent


class GenerativeCompression(tf.keras.Model):
    """E, q, G and D of the paper. Images enter and leave as float32 in [0, 1]."""

    def __init__(self, config: Any, name: str = "gc"):
        super().__init__(name=name)
        self.model_config = config
        self.encoder = make_encoder(config)
        self.quantizer = make_quantizer(config)
        self.generator = make_generator(config, "generator")
        self.discriminator = MultiScaleDiscriminator(
            config.discriminator_scales, config.discriminator_filters, config.discriminator_norm,
            config.spectral_norm, config.width_multiplier)
        self.ema_generator: Generator | None = None
        self.noise_channels = int(config.noise_channels)
        self.condition_channels = int(config.condition_channels)
        self.mode = config.mode
        self.semantic_features = make_semantic_features(config)
        self.gan_active = False
        self.d_warmup = False  # with gan_active: D learns, E and G get no GAN/FM gradient
        self._trackers = {n: tf.keras.metrics.Mean(name=n) for n in _G_TRACKERS + _D_TRACKERS}
        self._eval_trackers = {n: tf.keras.metrics.Mean(name=n)
                               for n in ("psnr", "ms_ssim", "mse", "bpp_bound", "entropy_bpp")}

    # ----------------------------------------------------------------------------------------
    # Shapes and rates: facts of the codec networks.

    @property
    def networks(self) -> CodecNetworks:
        """E, q, the inference G (the EMA copy once there is one) and SC's F: what a codec
        runs."""
        return CodecNetworks(self.model_config, self.encoder, self.quantizer,
                             self.inference_generator, self.semantic_features)

    @property
    def downsampling_factor(self) -> int:
        return self.encoder.downsampling_factor

    @property
    def num_centers(self) -> int:
        return self.quantizer.num_centers

    @property
    def bpp_bound(self) -> float:
        return self.networks.bpp_bound

    @property
    def conditions_discriminator(self) -> bool:
        return self.mode in ("gc_dplus", "sc")

    def build_all(self, crop_size: int = 64) -> None:
        """Creates every variable (needed before restoring or counting parameters)."""
        images = tf.zeros([1, crop_size, crop_size, 3])
        inputs = images
        label_map = None
        if self.condition_channels:
            label_map = tf.zeros([1, crop_size, crop_size, self.condition_channels])
            inputs = {"image": images, "label_map": label_map}
        self(inputs, training=True)  # builds E, G (and F)
        if self.ema_generator is not None:
            self(inputs, training=False)  # builds the EMA copy of G
        self.discriminator(images * 2.0 - 1.0,
                           label_map if self.conditions_discriminator else None)

    @property
    def inference_generator(self) -> Generator:
        return self.ema_generator if self.ema_generator is not None else self.generator

    def analysis(self, images: tf.Tensor) -> tf.Tensor:
        return self.networks.analysis(images)

    def synthesis(self, symbols: tf.Tensor, noise_seed: tf.Tensor | int = 0,
                  label_map: tf.Tensor | None = None,
                  latent_mask: tf.Tensor | None = None) -> tf.Tensor:
        return self.networks.synthesis(symbols, noise_seed, label_map, latent_mask)

    def latent_mask(self, pixel_mask: tf.Tensor) -> tf.Tensor:
        """Pixel preservation mask [B, H, W, 1] -> latent mask [B, H/16, W/16, 1]."""
        return masks.to_latent(pixel_mask, self.downsampling_factor)

    def _selective(self, quantized: tf.Tensor, label_map: tf.Tensor | None,
                   latent_mask: tf.Tensor | None, training: bool):
        return self.networks.selective_inputs(quantized, label_map, latent_mask, training)

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        """images [B, H, W, 3] in [0, 1], or a dict with "image" and, for semantic modes,
        "label_map" (and for SC an optional pixel "preserve_mask") -> reconstructions."""
        images, label_map, pixel_mask = self._unpack(inputs)
        generator = self.generator if training else self.inference_generator
        _, _, x_hat, _ = self._autoencode(images * 2.0 - 1.0, label_map, pixel_mask, training,
                                          generator)
        return (x_hat + 1.0) / 2.0

    def _noise(self, latents: tf.Tensor, training: bool) -> tf.Tensor | None:
        if not self.noise_channels:
            return None
        if training:
            shape = tf.concat([tf.shape(latents)[:3], [self.noise_channels]], 0)
            return tf.random.normal(shape, dtype=latents.dtype)
        return latent_noise(latents, self.noise_channels, 0)

    # ----------------------------------------------------------------------------------------
    # Training.

    def compile(self, g_optimizer: tf.keras.optimizers.Optimizer,
                d_optimizer: tf.keras.optimizers.Optimizer, gan_loss: str = "least_squares",
                lambda_mse: float = 10.0, lambda_fm: float = 10.0, lambda_vgg: float = 0.0,
                vgg_weights_path: str = "", lambda_lowpass: float = 0.0,
                lowpass_factor: int = 16, lambda_ms_ssim: float = 0.0,
                beta_rate: float = 0.0, d_steps: int = 1,
                gradient_penalty_weight: float = 10.0, ema_decay: float = 0.0,
                gan_weight: Callable[[tf.Tensor], tf.Tensor] | None = None,
                d_scale_weights: Sequence[float] = (), **kwargs):
        """gan_weight: step -> multiplier of G's GAN and FM terms (None: 1). d_scale_weights:
        relative weights of D's scales in those two terms only (() = equal). D's own loss
        stays unweighted: each scale is its own network with its own Adam moments, so a
        constant factor on its loss would barely change its updates; the lever is what G
        is pushed by."""
        super().compile(**kwargs)
        if gan_loss not in gan_losses.GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {gan_loss!r}; choose from {gan_losses.GAN_LOSSES}")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.gan_loss = gan_loss
        self.lambda_mse = lambda_mse
        self.lambda_fm = lambda_fm
        self.lambda_vgg = lambda_vgg
        self.lambda_lowpass = lambda_lowpass
        self.lowpass_factor = lowpass_factor
        self.lambda_ms_ssim = lambda_ms_ssim
        self.beta_rate = beta_rate
        self.d_steps = d_steps
        self.gradient_penalty_weight = gradient_penalty_weight
        self.ema_decay = ema_decay
        self.gan_weight = gan_weight
        self.d_scale_weights = gan_losses.scale_weights(d_scale_weights,
                                                        len(self.discriminator.scales))
        self.vgg_loss = VGGLoss(vgg_weights_path) if lambda_vgg > 0 else None
        if ema_decay > 0 and self.ema_generator is None:
            self.ema_generator = make_generator(self.model_config, "ema_generator")
            self.ema_generator.trainable = False

    @property
    def metrics(self):
        return list(self._trackers.values()) + list(self._eval_trackers.values())

    @property
    def step(self) -> tf.Variable:
        """Training step = number of encoder/generator updates so far."""
        return self.g_optimizer.iterations

    def current_step(self) -> int:
        return int(self.g_optimizer.iterations.numpy())

    def _unpack(self, data) -> tuple[tf.Tensor, tf.Tensor | None, tf.Tensor | None]:
        """(images, label_map, pixel preserve_mask); missing entries are None."""
        if isinstance(data, dict):
            return data["image"], data.get("label_map"), data.get("preserve_mask")
        return data, None, None

    @property
    def generator_variables(self) -> list[tf.Variable]:
        """What the generator optimizer updates: E, G and (SC) F."""
        nets = [self.encoder, self.generator] + ([self.semantic_features]
                                                 if self.semantic_features is not None else [])
        return [v for net in nets for v in net.trainable_variables]

    def _autoencode(self, x: tf.Tensor, label_map: tf.Tensor | None,
                    pixel_mask: tf.Tensor | None, training: bool, generator=None):
        """(latents, symbols, reconstruction in [-1, 1], latent mask or None)."""
        latents = self.encoder(x, training=training)
        quantized, symbols = self.quantizer(latents)
        latent_mask = None
        if self.mode == "sc":
            latent_mask = (self.latent_mask(pixel_mask) if pixel_mask is not None
                           else tf.ones_like(quantized[..., :1]))
        noise = self._noise(quantized, training)
        masked, condition = self._selective(quantized, label_map, latent_mask, training)
        generator = generator or self.generator
        reconstruction = generator(masked, noise, condition, training=training)
        return latents, symbols, reconstruction, latent_mask

    def _distortion(self, x: tf.Tensor, x_hat: tf.Tensor, latent_mask: tf.Tensor | None
                    ) -> tf.Tensor:
        """MSE, over the preserved pixels only when there is a mask (all-synthesised: 0)."""
        squared = tf.square(x - x_hat)
        if latent_mask is None:
            return tf.reduce_mean(squared)
        weight = masks.to_pixels(tf.cast(latent_mask, squared.dtype), self.downsampling_factor)
        total = tf.reduce_sum(weight) * 3.0
        return tf.math.divide_no_nan(tf.reduce_sum(squared * weight), total)

    def train_step(self, data):
        images, label_map, pixel_mask = self._unpack(data)
        condition = label_map if self.conditions_discriminator else None
        x = images * 2.0 - 1.0
        pixels_per_latent = self.downsampling_factor ** 2
        g_variables = self.generator_variables
        with tf.GradientTape() as tape:
            latents, symbols, x_hat, latent_mask = self._autoencode(x, label_map, pixel_mask,
                                                                    training=True)
            terms = {"mse": self._distortion(x, x_hat, latent_mask)}
            if latent_mask is not None:
                terms["preserved_fraction"] = tf.reduce_mean(latent_mask)
            g_loss = self.lambda_mse * terms["mse"]
            if self.lambda_lowpass > 0:
                terms["lowpass_mse"] = lowpass_mse(x, x_hat, self.lowpass_factor)
                g_loss += self.lambda_lowpass * terms["lowpass_mse"]
            if self.lambda_ms_ssim > 0:
                terms["ms_ssim_loss"] = ms_ssim_distortion(x, x_hat)
                g_loss += self.lambda_ms_ssim * terms["ms_ssim_loss"]
            if self.gan_active and not self.d_warmup:
                fake = self.discriminator(x_hat, condition, training=True)
                real = self.discriminator(x, condition, training=True)
                terms["gan_g"] = gan_losses.generator_loss(
                    self.gan_loss, [f[-1] for f in fake], self.d_scale_weights)
                terms["feature_matching"] = gan_losses.feature_matching_loss(
                    real, fake, self.d_scale_weights)
                adversarial = terms["gan_g"] + self.lambda_fm * terms["feature_matching"]
                if self.gan_weight is not None:
                    terms["gan_weight"] = tf.cast(self.gan_weight(self.step), adversarial.dtype)
                    adversarial *= terms["gan_weight"]
                g_loss += adversarial
            if self.vgg_loss is not None:
                terms["vgg"] = self.vgg_loss(x, x_hat)
                g_loss += self.lambda_vgg * terms["vgg"]
            if self.beta_rate > 0:
                soft_counts = tf.reduce_sum(self.quantizer.soft_assignment(latents), [0, 1, 2])
                terms["rate_bpp"] = _entropy_bpp(soft_counts, pixels_per_latent)
                g_loss += self.beta_rate * terms["rate_bpp"]
            scaled_loss = _loss_for_gradients(self.g_optimizer, g_loss)
        _minimize(self.g_optimizer, tape, scaled_loss, g_variables)
        if self.gan_active:
            fake_images = tf.stop_gradient(x_hat)
            for _ in range(self.d_steps):
                terms.update(self._discriminator_step(x, fake_images, condition))
        if self.ema_generator is not None:
            self._update_ema()

        terms["g_loss"] = g_loss
        terms["psnr"] = tf.reduce_mean(psnr((x + 1) / 2, tf.clip_by_value((x_hat + 1) / 2, 0, 1)))
        terms["entropy_bpp"] = symbol_entropy_bpp(symbols, self.num_centers, pixels_per_latent)
        terms["bpp_bound"] = tf.constant(self.bpp_bound, tf.float32)
        for name, value in terms.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in terms}

    def _discriminator_step(self, real: tf.Tensor, fake: tf.Tensor,
                            condition: tf.Tensor | None) -> dict[str, tf.Tensor]:
        def logits(images):
            return [scale[-1] for scale in self.discriminator(images, condition, training=True)]

        with tf.GradientTape() as tape:
            gan_d = gan_losses.discriminator_loss(self.gan_loss, logits(real), logits(fake))
            terms = {"gan_d": gan_d}
            d_loss = gan_d
            if self.gan_loss == "wgan_gp":
                terms["gradient_penalty"] = gan_losses.gradient_penalty(logits, real, fake)
                d_loss += self.gradient_penalty_weight * terms["gradient_penalty"]
            scaled_loss = _loss_for_gradients(self.d_optimizer, d_loss)
        _minimize(self.d_optimizer, tape, scaled_loss, self.discriminator.trainable_variables)
        terms["d_loss"] = d_loss
        return terms

    def _update_ema(self) -> None:
        decay = self.ema_decay
        pairs = list(zip(self.ema_generator.weights, self.generator.weights))

        def update(strategy):
            for ema, weight in pairs:
                strategy.extended.update(
                    ema, lambda e, w: e.assign(decay * e + (1.0 - decay) * w), args=(weight,))

        tf.distribute.get_replica_context().merge_call(update)

    def reset_ema(self) -> None:
        """Starts the EMA from the current generator weights (at step 0, not on resume)."""
        if self.ema_generator is not None:
            for ema, weight in zip(self.ema_generator.weights, self.generator.weights):
                ema.assign(weight)

    def test_step(self, data):
        images, label_map, pixel_mask = self._unpack(data)
        x = images * 2.0 - 1.0
        latents = self.encoder(x, training=False)
        _, symbols = self.quantizer(latents)
        latent_mask = self.latent_mask(pixel_mask) if pixel_mask is not None else None
        reconstruction = self.synthesis(symbols, 0, label_map, latent_mask)
        reconstruction = tf.clip_by_value(reconstruction, 0.0, 1.0)
        values = {
            "psnr": tf.reduce_mean(psnr(images, reconstruction)),
            "ms_ssim": tf.reduce_mean(ms_ssim(images, reconstruction)),
            "mse": tf.reduce_mean(tf.square(images - reconstruction)),
            "bpp_bound": tf.constant(self.bpp_bound, tf.float32),
            "entropy_bpp": symbol_entropy_bpp(symbols, self.num_centers,
                                              self.downsampling_factor ** 2),
        }
        for name, value in values.items():
            self._eval_trackers[name].update_state(value)
        return {name: t.result() for name, t in self._eval_trackers.items()}
