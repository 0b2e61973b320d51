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

The result is a generator SavedModel (see `tfgc.reversal.generators.save_generator`) at --out.
The run's state lives beside it in --out: `training.json` (the settings), `checkpoints/` (G, D,
E, both optimisers, the noise generator's state and the step, every --checkpoint-every steps
and at the end) and, with --snapshot-every N, generator SavedModels of the same format every N
steps (`snapshots/step-000500/` for step 500). Rerunning the command with the same --out
resumes from the latest checkpoint (the data stream skips what was used) up to --steps, so a
killed run loses at most N steps (SIGINT and SIGTERM stop it after the step, with a checkpoint)
and a finished one is extended by a larger --steps; a resume with other model or training
settings is refused, naming them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from PIL import Image

from tfgc.cli.arguments import whole_number
from tfgc.config import changed_settings
from tfgc.data.images import list_images, read_rgb
from tfgc.errors import ConfigError, TfgcError
from tfgc.latent_search.losses import ImageLoss, parse_loss
from tfgc.losses import gan as gan_losses
from tfgc.networks.dcgan import DCGANCritic, DCGANEncoder, DCGANGenerator
from tfgc.training.checkpoints import CheckpointWriter, writer_lock
from tfgc.utils.files import TEMP_PREFIX, clean_stale_temps, is_temp_name, write_text_atomic

SETTINGS_FILE = "training.json"
CHECKPOINT_DIR = "checkpoints"
SNAPSHOT_DIR = "snapshots"
# What a resume may change: how long to train and how often to save, nothing that shapes the
# networks or the data and noise they see.
RESUMABLE_CHANGES = ("steps", "max_minutes", "checkpoint_every", "keep_checkpoints",
                     "snapshot_every")
# A generator SavedModel's entries in --out; saved_model.pb goes last, so that while an export
# replaces another, --out is either no SavedModel or a whole one.
_SAVED_MODEL = "saved_model.pb"


class ImageGAN(tf.keras.Model):
    """G and D (and optionally an encoder E) with the Keras `train_step` recipe: `d_steps`
    critic updates, then one G (+ E) update. z comes from `noise`, a random generator seeded
    with `seed` whose state a checkpoint holds, so a resumed run draws the same z as an
    uninterrupted one."""

    def __init__(self, generator: DCGANGenerator, critic: DCGANCritic, loss: str,
                 d_steps: int = 1, gradient_penalty_weight: float = 10.0,
                 encoder: DCGANEncoder | None = None, encoder_weight: float = 0.0,
                 encoder_loss: str = "mse+0.05*ssim", latent_weight: float = 10.0,
                 seed: int = 0):
        super().__init__()
        self.noise = tf.random.Generator.from_seed(seed)
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
        return self.noise.uniform([batch, self.generator.latent_dim], -1.0, 1.0)

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--images", help="a folder of photos: random crops of them")
    data.add_argument("--scenes", type=whole_number(1), metavar="N",
                      help="N procedural street scenes of the image size (tfgc.semantic.scenes; "
                           "scene i from (--seed, i))")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3000,
                        help="train to this step (a resumed run counts the steps it had)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop earlier once this invocation has run this long (a "
                             "checkpoint is saved: rerun to continue)")
    parser.add_argument("--checkpoint-every", type=whole_number(1), default=500, metavar="N",
                        help="save the training state every N steps (and at the end) to "
                             "OUT/checkpoints (default 500)")
    parser.add_argument("--keep-checkpoints", type=whole_number(1), default=3, metavar="K",
                        help="keep the latest K checkpoints (default 3)")
    parser.add_argument("--snapshot-every", type=whole_number(1), default=None, metavar="N",
                        help="also export the generator every N steps, as a generator "
                             "SavedModel OUT/snapshots/step-NNNNNN (default: none)")
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
    return parser


class _Run:
    """A run's state in --out: what a checkpoint holds besides the networks and optimisers
    (the step, the training minutes of all invocations, the last step's losses), and what
    is written from it: checkpoints, snapshots and the final generator."""

    def __init__(self, args: argparse.Namespace, gan: ImageGAN, source: str):
        self.args, self.gan, self.source = args, gan, source
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.minutes = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.losses = tf.Variable("{}", dtype=tf.string, trainable=False)  # JSON
        parts = {"generator": gan.generator, "critic": gan.critic, "noise": gan.noise,
                 "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer,
                 "step": self.step, "minutes": self.minutes, "losses": self.losses}
        if gan.encoder is not None:
            parts["encoder"] = gan.encoder
        self.checkpoint = tf.train.Checkpoint(**parts)
        self.writer = CheckpointWriter(self.checkpoint, os.path.join(args.out, CHECKPOINT_DIR),
                                       args.keep_checkpoints)
        self.saved_step, self.minutes_before, self.started = -1, 0.0, time.time()
        self.snapshot_step = -1

    def restore(self) -> int:
        """The step of the latest checkpoint restored (0 if none)."""
        latest = self.writer.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_consumed()
            self.saved_step, self.minutes_before = int(self.step), float(self.minutes)
            print(f"resumed from step {self.saved_step} ({latest})", file=sys.stderr)
        return int(self.step)

    def advance(self, losses: dict[str, float]) -> int:
        """Counts a finished step; its losses become the run's last."""
        self.losses.assign(json.dumps(losses))
        return int(self.step.assign_add(1))

    def save(self) -> None:
        if self.saved_step != int(self.step):
            self.minutes.assign(self.minutes_before + (time.time() - self.started) / 60)
            self.writer.save(int(self.step))
            self.saved_step = int(self.step)

    def info(self) -> dict:
        """The generator's card: its networks, and how it was trained up to this step."""
        args = self.args
        minutes = self.minutes_before + (time.time() - self.started) / 60
        unused = ("out", "images", "scenes", *RESUMABLE_CHANGES)
        if self.gan.encoder is None:
            unused += ("encoder_weight", "encoder_loss", "latent_weight")
        if args.scenes:
            unused += ("scale_to",)
        return {"kind": "dcgan", **self.gan.generator.get_config(), "prior": "uniform",
                "training": {**{k: v for k, v in vars(args).items() if k not in unused},
                             "steps": int(self.step), "data": self.source,
                             "minutes": round(minutes, 1),
                             "final_losses": json.loads(self.losses.numpy().decode())}}

    def _snapshot_path(self) -> str:
        return os.path.join(self.args.out, SNAPSHOT_DIR, f"step-{int(self.step):06d}")

    def snapshot(self) -> None:
        from tfgc.reversal.generators import save_generator

        path = self._snapshot_path()
        if not os.path.exists(path):  # else a run resumed before this step wrote it
            save_generator(self.gan.generator, path, self.info(), self.gan.encoder)
            self.snapshot_step = int(self.step)  # what `export` may copy

    def export(self) -> dict:
        """The generator SavedModel at --out, replacing an earlier export of the run (a copy
        of this step's snapshot if this invocation wrote one)."""
        from tfgc.reversal.generators import GENERATOR_INFO, save_generator

        out = self.args.out
        staged = os.path.join(out, f"{TEMP_PREFIX}{os.getpid()}-export")
        if self.snapshot_step == int(self.step):
            shutil.copytree(self._snapshot_path(), staged)
            with open(os.path.join(staged, "assets.extra", GENERATOR_INFO)) as f:
                info = json.load(f)
        else:
            info = self.info()
            save_generator(self.gan.generator, staged, info, self.gan.encoder)
        replaced = os.path.join(out, f"{TEMP_PREFIX}{os.getpid()}-replaced")
        os.mkdir(replaced)
        names = sorted(os.listdir(staged), key=lambda name: name == _SAVED_MODEL)
        for name in reversed(names):  # saved_model.pb out first, in last
            if os.path.lexists(os.path.join(out, name)):
                os.rename(os.path.join(out, name), os.path.join(replaced, name))
        for name in names:
            os.rename(os.path.join(staged, name), os.path.join(out, name))
        shutil.rmtree(replaced)
        os.rmdir(staged)
        return info


class _Progress(tf.keras.callbacks.Callback):
    """After each step: counts it, writes snapshots and checkpoints on schedule, and stops at
    --steps, once --max-minutes of this invocation have passed, or after a SIGINT or SIGTERM
    (`stopped_by`; see `stop_on_signals`)."""

    def __init__(self, run: _Run):
        super().__init__()
        self.run, args = run, run.args
        self.last_step, self.snapshot_every = args.steps, args.snapshot_every
        self.checkpoint_every = args.checkpoint_every
        self.deadline = (None if args.max_minutes is None
                         else time.time() + 60 * args.max_minutes)
        self.stopped_by: signal.Signals | None = None

    def on_train_batch_end(self, batch, logs=None):
        step = self.run.advance({k: float(v) for k, v in (logs or {}).items()})
        if self.snapshot_every and step % self.snapshot_every == 0:
            self.run.snapshot()
        if step % self.checkpoint_every == 0:
            self.run.save()
        if (step >= self.last_step or self.stopped_by
                or (self.deadline and time.time() > self.deadline)):
            self.model.stop_training = True

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """While training: a SIGINT or SIGTERM stops it at the end of the step (a second
        one acts as usual), so that the state can be saved at a whole step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def stop(number, frame):
            self.stopped_by = signal.Signals(number)
            for s, handler in previous.items():
                signal.signal(s, handler)

        for s in previous:
            signal.signal(s, stop)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _settings(args: argparse.Namespace) -> dict:
    """What training.json records: every flag but --out, the photo folder as an absolute
    path (a resume from another directory names the same folder)."""
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    if settings["images"]:
        settings["images"] = os.path.abspath(settings["images"])
    return settings


def _check_out(out: str, settings: dict, defaults: dict) -> bool:
    """Whether --out holds a run to resume; a ConfigError if it cannot be resumed with
    `settings` (or is not a run of this trainer at all)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out} is a file, not a folder")
    names = [n for n in (os.listdir(out) if os.path.isdir(out) else [])
             if not is_temp_name(n) and n != CHECKPOINT_DIR]
    resumable = bool(tf.train.latest_checkpoint(os.path.join(out, CHECKPOINT_DIR)))
    if SETTINGS_FILE not in names:
        if names or resumable:
            raise ConfigError(f"--out {out} is not empty and holds no {SETTINGS_FILE}: not a "
                              "run of this trainer to resume (a generator saved by an "
                              "earlier tfgc has no checkpoints); use a new --out")
        return False
    try:
        with open(os.path.join(out, SETTINGS_FILE)) as f:
            previous = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {os.path.join(out, SETTINGS_FILE)}: {e}") from None
    changed = {k: v for k, v in changed_settings(previous, settings, defaults).items()
               if k not in RESUMABLE_CHANGES}
    if changed and (resumable or set(names) - {SETTINGS_FILE}):
        raise ConfigError(
            f"--out {out} holds a run trained with other settings ("
            + ", ".join(f"--{k.replace('_', '-')} {old} -> {new}"
                        for k, (old, new) in changed.items())
            + f"); resume it with its settings ({SETTINGS_FILE} there) or use a new --out")
    return resumable


def _build(gan: ImageGAN, image_size: int) -> None:
    """Builds the networks and optimisers, so that a checkpoint restores into all of them."""
    gan.generator(tf.zeros([1, gan.generator.latent_dim]))
    image = tf.zeros([1, image_size, image_size, 3])
    gan.critic(image)
    g_variables = list(gan.generator.trainable_variables)
    if gan.encoder is not None:
        gan.encoder(image)
        g_variables += gan.encoder.trainable_variables
    gan.g_optimizer.build(g_variables)
    gan.d_optimizer.build(gan.critic.trainable_variables)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.encoder_weight < 0 or args.latent_weight < 0:
        parser.error("--encoder-weight and --latent-weight must be >= 0")
    try:
        parse_loss(args.encoder_loss)
    except TfgcError as e:
        parser.error(f"argument --encoder-loss: {e}")
    settings = _settings(args)
    defaults = {k: parser.get_default(k) for k in settings}
    try:
        _check_out(args.out, settings, defaults)  # before the lock creates --out
        with writer_lock(os.path.join(args.out, CHECKPOINT_DIR), "--out"):
            return _train(args, settings, defaults)
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _train(args: argparse.Namespace, settings: dict, defaults: dict) -> int:
    # Under the lock: no live run writes here, so what a killed one left is removed.
    for folder in (args.out, os.path.join(args.out, SNAPSHOT_DIR)):
        clean_stale_temps(folder)
    _check_out(args.out, settings, defaults)  # again, now that no other run can write
    write_text_atomic(os.path.join(args.out, SETTINGS_FILE), json.dumps(settings, indent=1))
    tf.keras.utils.set_random_seed(args.seed)
    generator = DCGANGenerator(args.latent_dim, args.image_size, args.width)
    critic = DCGANCritic(args.image_size, args.width)
    encoder = (DCGANEncoder(args.latent_dim, args.image_size, args.width)
               if args.encoder_weight > 0 else None)
    gan = ImageGAN(generator, critic, args.loss, args.d_steps, encoder=encoder,
                   encoder_weight=args.encoder_weight, encoder_loss=args.encoder_loss,
                   latent_weight=args.latent_weight, seed=args.seed)
    gan.compile(tf.keras.optimizers.Adam(args.lr, 0.5, 0.999),
                tf.keras.optimizers.Adam(args.lr, 0.5, 0.999))
    _build(gan, args.image_size)
    if args.scenes is not None:
        data = scene_dataset(args.scenes, args.image_size, args.batch_size, args.seed)
        source = f"{args.scenes} procedural street scenes (seed {args.seed})"
    else:
        data = crop_dataset(args.images, args.image_size, args.batch_size, args.scale_to,
                            args.seed)
        source = os.path.basename(os.path.normpath(args.images))
    run = _Run(args, gan, source)
    start = run.restore()
    remaining = args.steps - start
    if remaining > 0:
        interval = min(remaining, 100)  # one log line per `interval` steps
        progress = _Progress(run)
        with progress.stop_on_signals():
            gan.fit(data.skip(start), steps_per_epoch=interval,
                    epochs=-(-remaining // interval), verbose=2, callbacks=[progress])
        if progress.stopped_by:
            run.save()
            print(f"stopped by {progress.stopped_by.name} after step {int(run.step)}: "
                  "checkpoint saved, no generator exported; rerun the command to resume",
                  file=sys.stderr)
            return 128 + progress.stopped_by
    else:
        print(f"step {start} >= --steps {args.steps}: nothing to train", file=sys.stderr)
    run.save()
    print(json.dumps(run.export(), indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
