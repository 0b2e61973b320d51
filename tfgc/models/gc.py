"""Generative compression (GC), Agustsson et al. ICCV 2019, as one Keras model.

E encodes an image to H/16 x W/16 x C latents, q quantises them to L centers, G decodes the
quantised latents (plus optional noise) to an image, and a multi-scale D judges it. `train_step`
updates E and G together on  GAN + lambda_mse * MSE + lambda_fm * FM [+ lambda_vgg * VGG]
[+ beta * rate], then D `d_steps` times on the same reconstructions (pix2pixHD's schedule: one
forward pass serves both updates). While `gan_active` is False (the distortion-only warm-up) the
discriminator is neither run nor updated.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from tfgc.layers.noise import latent_noise
from tfgc.layers.quantizer import Quantizer
from tfgc.losses import gan as gan_losses
from tfgc.losses.perceptual import VGGLoss
from tfgc.metrics import ms_ssim, psnr
from tfgc.networks import Encoder, Generator, MultiScaleDiscriminator

_G_TRACKERS = ("g_loss", "mse", "psnr", "gan_g", "feature_matching", "vgg", "rate_bpp",
               "entropy_bpp", "bpp_bound")
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
        self.encoder = Encoder(
            config.num_channels, config.encoder_filters, config.encoder_norm, config.padding,
            config.width_multiplier)
        self.quantizer = Quantizer(config.centers, config.quantizer_temperature)
        self.generator = self._make_generator("generator")
        self.discriminator = MultiScaleDiscriminator(
            config.discriminator_scales, config.discriminator_filters, config.discriminator_norm,
            config.spectral_norm, config.width_multiplier)
        self.ema_generator: Generator | None = None
        self.noise_channels = int(config.noise_channels)
        self.condition_channels = int(config.condition_channels)
        self.gan_active = False
        self._trackers = {n: tf.keras.metrics.Mean(name=n) for n in _G_TRACKERS + _D_TRACKERS}
        self._eval_trackers = {n: tf.keras.metrics.Mean(name=n)
                               for n in ("psnr", "ms_ssim", "mse", "bpp_bound", "entropy_bpp")}

    def _make_generator(self, name: str) -> Generator:
        c = self.model_config
        return Generator(c.generator_filters, c.num_residual_blocks, c.upsample_filters,
                         c.generator_norm, c.generator_upsample_norm, c.upsampling, c.padding,
                         c.width_multiplier, name=name)

    # ----------------------------------------------------------------------------------------
    # Shapes and rates.

    @property
    def downsampling_factor(self) -> int:
        return self.encoder.downsampling_factor

    @property
    def num_centers(self) -> int:
        return self.quantizer.num_centers

    @property
    def bpp_bound(self) -> float:
        """dim(w) * log2(L) / pixels: the TF1 port's only 'bpp'."""
        channels = self.model_config.num_channels
        return channels * math.log2(self.num_centers) / self.downsampling_factor**2

    def build_all(self, crop_size: int = 64) -> None:
        """Creates every variable (needed before restoring or counting parameters)."""
        images = tf.zeros([1, crop_size, crop_size, 3])
        self(images, training=True)  # builds E and G
        if self.ema_generator is not None:
            self(images, training=False)  # builds the EMA copy of G
        condition = (tf.zeros([1, crop_size, crop_size, self.condition_channels])
                     if self.condition_channels else None)
        self.discriminator(images * 2.0 - 1.0, condition)

    # ----------------------------------------------------------------------------------------
    # Inference pieces, used by the codec and exports.

    @property
    def inference_generator(self) -> Generator:
        return self.ema_generator if self.ema_generator is not None else self.generator

    def analysis(self, images: tf.Tensor) -> tf.Tensor:
        """images [B, H, W, 3] in [0, 1], H and W multiples of 16 -> int32 symbols [B, h, w, C]."""
        return self.quantizer.symbols(self.encoder(images * 2.0 - 1.0, training=False))

    def synthesis(self, symbols: tf.Tensor, noise_seed: tf.Tensor | int = 0,
                  condition: tf.Tensor | None = None) -> tf.Tensor:
        """int32 symbols [B, h, w, C] -> images [B, 16h, 16w, 3] in [0, 1]."""
        latents = self.quantizer.dequantize(symbols)
        noise = (latent_noise(latents, self.noise_channels, noise_seed)
                 if self.noise_channels else None)
        images = self.inference_generator(latents, noise, condition, training=False)
        return (images + 1.0) / 2.0

    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        latents = self.encoder(images * 2.0 - 1.0, training=training)
        quantized, _ = self.quantizer(latents)
        noise = self._noise(quantized, training)
        generator = self.generator if training else self.inference_generator
        return (generator(quantized, noise, None, training=training) + 1.0) / 2.0

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
                vgg_weights_path: str = "", beta_rate: float = 0.0, d_steps: int = 1,
                gradient_penalty_weight: float = 10.0, ema_decay: float = 0.0, **kwargs):
        super().compile(**kwargs)
        if gan_loss not in gan_losses.GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {gan_loss!r}; choose from {gan_losses.GAN_LOSSES}")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.gan_loss = gan_loss
        self.lambda_mse = lambda_mse
        self.lambda_fm = lambda_fm
        self.lambda_vgg = lambda_vgg
        self.beta_rate = beta_rate
        self.d_steps = d_steps
        self.gradient_penalty_weight = gradient_penalty_weight
        self.ema_decay = ema_decay
        self.vgg_loss = VGGLoss(vgg_weights_path) if lambda_vgg > 0 else None
        if ema_decay > 0 and self.ema_generator is None:
            self.ema_generator = self._make_generator("ema_generator")
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

    def _unpack(self, data) -> tuple[tf.Tensor, tf.Tensor | None]:
        if isinstance(data, dict):
            return data["image"], data.get("label_map")
        return data, None

    def _autoencode(self, x: tf.Tensor, training: bool):
        latents = self.encoder(x, training=training)
        quantized, symbols = self.quantizer(latents)
        reconstruction = self.generator(quantized, self._noise(quantized, training), None,
                                        training=training)
        return latents, symbols, reconstruction

    def train_step(self, data):
        images, condition = self._unpack(data)
        x = images * 2.0 - 1.0
        pixels_per_latent = self.downsampling_factor ** 2
        g_variables = self.encoder.trainable_variables + self.generator.trainable_variables
        with tf.GradientTape() as tape:
            latents, symbols, x_hat = self._autoencode(x, training=True)
            terms = {"mse": tf.reduce_mean(tf.square(x - x_hat))}
            g_loss = self.lambda_mse * terms["mse"]
            if self.gan_active:
                fake = self.discriminator(x_hat, condition, training=True)
                real = self.discriminator(x, condition, training=True)
                terms["gan_g"] = gan_losses.generator_loss(self.gan_loss, [f[-1] for f in fake])
                terms["feature_matching"] = gan_losses.feature_matching_loss(real, fake)
                g_loss += terms["gan_g"] + self.lambda_fm * terms["feature_matching"]
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
        images, _ = self._unpack(data)
        x = images * 2.0 - 1.0
        latents = self.encoder(x, training=False)
        _, symbols = self.quantizer(latents)
        reconstruction = self.synthesis(symbols)
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
