"""Keras callbacks that make a training run resumable and observable."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfgc.data.images import write_png
from tfgc.training.checkpoints import CheckpointWriter
from tfgc.training.schedules import current_value


class StopAtStep(tf.keras.callbacks.Callback):
    """Ends fit() exactly at a target step (phases end mid-'epoch')."""

    def __init__(self, target: int):
        super().__init__()
        self.target = target

    def on_train_batch_end(self, batch, logs=None):
        if self.model.current_step() >= self.target:
            self.model.stop_training = True


class StepLog(tf.keras.callbacks.Callback):
    """One line per logging interval with the steps that really ran and their time.

    Replaces Keras' progress bar, which counts in 'epochs' of log_every steps and reports a full
    epoch (and its per-step time) when a phase ends mid-epoch. On a terminal a bar shows the run.
    """

    def __init__(self, num_steps: int):
        super().__init__()
        self.num_steps = num_steps
        self.bar = None

    def on_train_begin(self, logs=None):
        if sys.stderr.isatty():
            self.bar = tqdm(total=self.num_steps, initial=self.model.current_step(), unit="step",
                            file=sys.stderr, leave=False, dynamic_ncols=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.first_step, self.started = self.model.current_step(), time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(self.model.current_step() - self.bar.n)

    def on_epoch_end(self, epoch, logs=None):
        step = self.model.current_step()
        steps = step - self.first_step
        if steps <= 0:
            return
        seconds = time.perf_counter() - self.started
        line = (f"step {step}/{self.num_steps}: {steps} step{'s' * (steps > 1)}, "
                f"{1000 * seconds / steps:.0f} ms/step"
                + "".join(f" - {k}: {v:.4f}" for k, v in (logs or {}).items()))
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)  # stdout, where Keras' lines went: logs redirect it

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Checkpointer(tf.keras.callbacks.Callback):
    """Saves every `every` steps; TF writes then renames, so a kill at any moment leaves the
    previous checkpoint as the valid latest one. Every worker of a run calls it in step."""

    def __init__(self, writer: CheckpointWriter, every: int):
        super().__init__()
        self.writer, self.every = writer, every
        self.last_saved = -1

    def save(self) -> None:
        step = self.model.current_step()
        if step != self.last_saved:
            self.writer.save(step)
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if self.model.current_step() % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class Monitor(tf.keras.callbacks.Callback):
    """TensorBoard scalars (every loss term, PSNR, bpp, learning rates), eval metrics,
    reconstructions beside originals, and sample PNGs in the workdir.

    Every worker evaluates (evaluation is collective); only the chief writes summaries and
    samples, so a shared workdir holds one copy of each.
    """

    def __init__(self, workdir: str, eval_data: tf.data.Dataset, sample_batch: tf.Tensor,
                 schedules: dict, sample_every: int, eval_every: int, chief: bool = True):
        super().__init__()
        self.chief = chief
        self.writer = (tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
                       if chief else tf.summary.create_noop_writer())
        self.sample_dir = os.path.join(workdir, "samples")
        self.eval_data, self.sample_batch = eval_data, sample_batch
        self.schedules = schedules
        self.sample_every, self.eval_every = sample_every, eval_every
        self.last_sample = self.last_eval = -1

    def on_epoch_end(self, epoch, logs=None):
        step = self.model.current_step()
        with self.writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"train/{name}", value)
            for name, schedule in self.schedules.items():
                tf.summary.scalar(f"learning_rate/{name}", current_value(schedule, step))
            tf.summary.scalar("train/gan_active", float(self.model.gan_active))
        if step // self.eval_every != self.last_eval // self.eval_every or self.last_eval < 0:
            self.evaluate(step)
        if step // self.sample_every != self.last_sample // self.sample_every \
                or self.last_sample < 0:
            self.sample(step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        step = self.model.current_step()
        if step != self.last_eval:
            self.evaluate(step)
        if step != self.last_sample:
            self.sample(step)
        self.writer.flush()

    def evaluate(self, step: int) -> dict:
        results = self.model.evaluate(self.eval_data, verbose=0, return_dict=True)
        with self.writer.as_default(step=step):
            for name, value in results.items():
                tf.summary.scalar(f"eval/{name}", value)
        print(f"[step {step}] eval: " + ", ".join(f"{k}={v:.4f}" for k, v in
                                                    sorted(results.items())), file=sys.stderr)
        self.last_eval = step
        return results

    def sample(self, step: int) -> None:
        self.last_sample = step
        if not self.chief:
            return
        reconstruction = tf.clip_by_value(self.model(self.sample_batch, training=False), 0, 1)
        originals = (self.sample_batch["image"] if isinstance(self.sample_batch, dict)
                     else self.sample_batch)
        pairs = tf.concat([originals, reconstruction], axis=2)  # original | ours
        with self.writer.as_default(step=step):
            tf.summary.image("original_vs_reconstruction", pairs, max_outputs=4)
        grid = np.concatenate(list(pairs.numpy()), axis=0)
        write_png(os.path.join(self.sample_dir, f"step_{step:08d}.png"),
                  np.round(grid * 255).astype(np.uint8))
