"""Training a small unconditional GAN (DCGAN networks) on random crops of a photo folder, or on
procedural street scenes (a narrow domain a small generator can cover): the generator that
GAN-reversal compression inverts.

    python -m tfgc.training.dcgan --images PHOTOS_DIR --out generators/photos64 \
        --steps 3000 [--loss non_saturating|wgan_gp|...] [--image-size 64]
    python -m tfgc.training.dcgan --scenes 8000 --out generators/scenes64 --max-minutes 20
    python -m tfgc.training.dcgan --scenes 8000 --out generators/scenes64e --encoder-weight 100

With --encoder-weight W > 0 an encoder E: image -> z is trained with G (a "GAN with an
encoder", as VAE-GAN and ALI): G and E also minimise W * distortion(G(E(x)), x) on real images,
which pulls G toward covering them (a plain GAN drops what it does not sample), and E alone
minimises --latent-weight * |E(G(z)) - z|^2 so it inverts G on its own samples too. G stays an
unconditional z -> image generator; the encoder is saved as the SavedModel's `encode` signature
and `tfgc reverse` starts its first restart from it.

The result is a generator SavedModel (see `tfgc.reversal.generators.save_generator`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from tfgc.cli.arguments import whole_number
from tfgc.data.images import list_images, read_rgb
from tfgc.errors import TfgcError
from tfgc.latent_search.losses import ImageLoss, parse_loss
from tfgc.losses import gan as gan_losses
from tfgc.networks.dcgan import DCGANCritic, DCGANEncoder, DCGANGenerator


class ImageGAN(tf.keras.Model):
    """G and D (and optionally an encoder E) with the Keras `train_step` recipe: `d_steps`
    critic updates, then one G (+ E) update."""

    def __init__(self, generator: DCGANGenerator, critic: DCGANCritic, loss: str,
                 d_steps: int = 1, gradient_penalty_weight: float = 10.0,
                 encoder: DCGANEncoder | None = None, encoder_weight: float = 0.0,
                 encoder_loss: str = "mse+0.05*ssim", latent_weight: float = 10.0):
        super().__init__()
        self.generator, self.critic, self.encoder = generator, critic, encoder
        self.loss_kind, self.d_steps = loss, d_steps
        self.gradient_penalty_weight = gradient_penalty_weight
        self.encoder_weight, self.latent_weight = encoder_weight, latent_weight
        self.distortion = ImageLoss(encoder_loss)

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def _logits(self, x: tf.Tensor) -> list[tf.Tensor]:
        """The critic's scores [B] as the one-scale patch logits tfgc's GAN losses take."""
        return [tf.reshape(self.critic(x), [-1, 1, 1, 1])]

    def _z(self, batch: tf.Tensor) -> tf.Tensor:
        return tf.random.uniform([batch, self.generator.latent_dim], -1.0, 1.0)

    def train_step(self, real):
        batch = tf.shape(real)[0]
        for _ in range(self.d_steps):
            with tf.GradientTape() as tape:
                fake = self.generator(self._z(batch), training=True)
                d_loss = gan_losses.discriminator_loss(
                    self.loss_kind, self._logits(real), self._logits(fake))
                if self.loss_kind == "wgan_gp":
                    d_loss += self.gradient_penalty_weight * gan_losses.gradient_penalty(
                        self._logits, real, fake)
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        if self.encoder is not None:
            return {"d_loss": d_loss, **self._generator_and_encoder_step(real, batch)}
        with tf.GradientTape() as tape:
            fake = self.generator(self._z(batch), training=True)
            g_loss = gan_losses.generator_loss(self.loss_kind, self._logits(fake))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}

    def _generator_and_encoder_step(self, real: tf.Tensor, batch: tf.Tensor) -> dict:
        """One update of G and E together: G's adversarial loss on prior samples (as without
        E), plus the reconstruction of the real batch through E and G (for both), plus E's
        inversion of G's samples (for E alone). G reconstructs with its batch norm in
        inference mode: its moving statistics stay those of prior samples, and a decoder
        draws G(E(x)) exactly as training did."""
        z = self._z(batch)
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            g_loss = gan_losses.generator_loss(self.loss_kind, self._logits(fake))
            reconstruction = self.generator(self.encoder(real, training=True), training=False)
            reconstruction_loss = tf.reduce_mean(self.distortion(
                (real + 1.0) / 2.0, (reconstruction + 1.0) / 2.0))
            latent_loss = tf.reduce_mean(tf.square(
                self.encoder(tf.stop_gradient(fake), training=True) - z))
            total = (g_loss + self.encoder_weight * reconstruction_loss
                     + self.latent_weight * latent_loss)
        variables = self.generator.trainable_variables + self.encoder.trainable_variables
        grads = tape.gradient(total, variables)
        self.g_optimizer.apply_gradients(zip(grads, variables))
        return {"g_loss": g_loss, "reconstruction": reconstruction_loss, "latent": latent_loss}


def crop_dataset(folder: str, image_size: int, batch_size: int, scale_to: int,
                 seed: int = 0) -> tf.data.Dataset:
    """Endless batches of random crops (with flips) of every photo, shorter side `scale_to`."""
    photos = []
    for path in list_images(folder):
        image = Image.fromarray(read_rgb(path))
        factor = scale_to / min(image.size)
        image = image.resize((max(image_size, round(image.width * factor)),
                              max(image_size, round(image.height * factor))), Image.LANCZOS)
        photos.append(np.asarray(image))
    if not photos:
        raise SystemExit(f"no images in {folder}")
    rng = np.random.default_rng(seed)

    def crops():
        while True:
            photo = photos[rng.integers(len(photos))]
            top = rng.integers(photo.shape[0] - image_size + 1)
            left = rng.integers(photo.shape[1] - image_size + 1)
            crop = photo[top:top + image_size, left:left + image_size]
            yield crop[:, ::-1] if rng.random() < 0.5 else crop

    spec = tf.TensorSpec([image_size, image_size, 3], tf.uint8)
    return (tf.data.Dataset.from_generator(crops, output_signature=spec)
            .map(lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0)
            .batch(batch_size).prefetch(2))


def scene_dataset(num_scenes: int, image_size: int, batch_size: int,
                  seed: int = 0) -> tf.data.Dataset:
    """Endless shuffled batches (with flips) of `num_scenes` square procedural street scenes,
    scene i drawn from (seed, i) as `tfgc.semantic.scenes.generate_scene` does."""
    from tfgc.semantic.scenes import generate_scene

    scenes = np.stack([generate_scene(image_size, image_size, (seed, i)).image
                       for i in range(num_scenes)])
    return (tf.data.Dataset.from_tensor_slices(scenes)
            .shuffle(min(num_scenes, 10_000), seed=seed).repeat()
            .map(lambda x: tf.image.random_flip_left_right(tf.cast(x, tf.float32) / 127.5 - 1.0,
                                                           seed=seed))
            .batch(batch_size).prefetch(2))


class _Budget(tf.keras.callbacks.Callback):
    """Stops training after `steps` steps or once `minutes` of wall time have passed."""

    def __init__(self, steps: int, minutes: float | None):
        super().__init__()
        self.max_steps, self.steps = steps, 0
        self.deadline = None if minutes is None else time.time() + 60 * minutes

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps >= self.max_steps or (self.deadline and time.time() > self.deadline):
            self.model.stop_training = True


def main(argv: list[str] | None = None) -> int:
    from tfgc.reversal.generators import save_generator

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--images", help="a folder of photos: random crops of them")
    data.add_argument("--scenes", type=whole_number(1), metavar="N",
                      help="N procedural street scenes of the image size (tfgc.semantic.scenes; "
                           "scene i from (--seed, i))")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop earlier once this much wall time has passed")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--scale-to", type=int, default=128,
                        help="photos are resized to this shorter side before cropping")
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--loss", default="non_saturating", choices=gan_losses.GAN_LOSSES)
    parser.add_argument("--d-steps", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder-weight", type=float, default=0.0, metavar="W",
                        help="> 0: train an encoder image -> z with G; G and E also minimise "
                             "W * distortion(G(E(x)), x) on real images (default 0: no encoder)")
    parser.add_argument("--encoder-loss", default="mse+0.05*ssim",
                        help="that distortion: mse, l1, ssim, ms_ssim or a weighted sum "
                             "(default mse+0.05*ssim)")
    parser.add_argument("--latent-weight", type=float, default=10.0,
                        help="with an encoder: weight of |E(G(z)) - z|^2 on prior samples, "
                             "for E only (default 10)")
    args = parser.parse_args(argv)
    if args.encoder_weight < 0 or args.latent_weight < 0:
        parser.error("--encoder-weight and --latent-weight must be >= 0")
    try:
        parse_loss(args.encoder_loss)
    except TfgcError as e:
        parser.error(f"argument --encoder-loss: {e}")

    tf.keras.utils.set_random_seed(args.seed)
    generator = DCGANGenerator(args.latent_dim, args.image_size, args.width)
    critic = DCGANCritic(args.image_size, args.width)
    encoder = (DCGANEncoder(args.latent_dim, args.image_size, args.width)
               if args.encoder_weight > 0 else None)
    gan = ImageGAN(generator, critic, args.loss, args.d_steps, encoder=encoder,
                   encoder_weight=args.encoder_weight, encoder_loss=args.encoder_loss,
                   latent_weight=args.latent_weight)
    gan.compile(tf.keras.optimizers.Adam(args.lr, 0.5, 0.999),
                tf.keras.optimizers.Adam(args.lr, 0.5, 0.999))
    if args.scenes is not None:
        data = scene_dataset(args.scenes, args.image_size, args.batch_size, args.seed)
        source = f"{args.scenes} procedural street scenes (seed {args.seed})"
    else:
        data = crop_dataset(args.images, args.image_size, args.batch_size, args.scale_to,
                            args.seed)
        source = os.path.basename(os.path.normpath(args.images))
    budget = _Budget(args.steps, args.max_minutes)
    interval = min(args.steps, 100)  # one log line per `interval` steps
    start = time.time()
    history = gan.fit(data, steps_per_epoch=interval, epochs=-(-args.steps // interval),
                      verbose=2, callbacks=[budget])
    minutes = (time.time() - start) / 60
    without_encoder = ("encoder_weight", "encoder_loss", "latent_weight") if encoder is None else ()
    info = {"kind": "dcgan", **generator.get_config(), "prior": "uniform",
            "training": {**{k: v for k, v in vars(args).items()
                            if k not in ("out", "images", "scenes", "max_minutes",
                                         *without_encoder)
                            and not (k == "scale_to" and args.scenes)},
                         "steps": budget.steps, "data": source,
                         "minutes": round(minutes, 1),
                         "final_losses": {k: float(v[-1]) for k, v in history.history.items()}}}
    save_generator(generator, args.out, info, encoder)
    print(json.dumps(info, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
