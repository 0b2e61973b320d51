"""The training run behind `train.py`: build, restore or initialise, fit in two phases.

Phase 1 (steps < warmup_steps) trains E and G on distortion only; phase 2 (d_warmup_steps,
default none) also trains D, with E and G still on distortion only; phase 3 switches G's GAN
terms on. Each phase is one `fit()` call on the model's own `train_step`, so the discriminator
costs nothing during the first.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import sys

import ml_collections
import tensorflow as tf

from tfgc.config import changed_settings, default_config, from_json, to_json
from tfgc.data import labeled, pipeline
from tfgc.errors import ConfigError
from tfgc.models.gc import GenerativeCompression
from tfgc.training import callbacks
from tfgc.training.checkpoints import CheckpointWriter, writer_lock
from tfgc.training.distribute import is_chief, make_strategy, task
from tfgc.training.schedules import (
    gan_start,
    gan_weight_schedule,
    make_schedule,
    resume_reevaluation,
)
from tfgc.training.validation import validate_config
from tfgc.training.warm_start import warm_start
from tfgc.utils.files import write_text_atomic
from tfgc.workdir import CHECKPOINT_DIR, CONFIG_CHANGES_FILE, CONFIG_FILE

log = logging.getLogger(__name__)


def _previous_text(path: str) -> str | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def _check_resumable(workdir: str, changed: dict[str, list]) -> None:
    """A workdir's checkpoints only fit the architecture they were trained with."""
    architecture = [k for k in changed if k.split(".")[0] == "model"]
    if architecture and tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR)):
        raise ConfigError(
            f"{workdir} holds checkpoints of a different architecture (changed: "
            f"{', '.join(architecture)}); use a new --workdir")


def _describe_reevaluated(name: str, old: float, new: float, step: int,
                          config: ml_collections.ConfigDict) -> str:
    """'G lr at step 2800 2e-05 -> 2e-05 (linear_decay from step 2800 to 0 at step 5600)'."""
    if name == "gan_start":
        return f"GAN terms from step {old:g} -> {new:g}"
    if name == "gan_weight":
        ramp = ("held at 1" if config.gan_weight_end == 1.0 else
                f"1 at step {gan_start(config)} -> {config.gan_weight_end:g} at step "
                f"{config.num_steps}")
        return f"G's GAN + FM weight at step {step} {old:.4g} -> {new:.4g} ({ramp})"
    schedule = ("constant" if config.lr_schedule == "constant" else
                f"{config.lr_schedule} from step "
                f"{int(config.lr_decay_start * config.num_steps)} to 0 at step {config.num_steps}")
    label = {"lr": "G lr", "d_lr": "D lr"}[name]
    return f"{label} at step {step} {old:.4g} -> {new:.4g} ({schedule})"


def _report_config_changes(workdir: str, previous: str, changed: dict[str, list],
                           config: ml_collections.ConfigDict, step: int, chief: bool) -> None:
    """One line, and a record in the workdir, when a resume runs with other settings: the
    schedules are re-evaluated from the new ones, which a user who only meant to train longer
    (a new num_steps) may not expect."""
    if not changed:
        return
    reevaluated = resume_reevaluation(from_json(previous), config, step)
    what = ("re-evaluated from the new values: " + ", ".join(
        _describe_reevaluated(k, old, new, step, config) for k, (old, new) in reevaluated.items())
        if reevaluated else "the phases, GAN-weight ramp and lr schedules are unchanged")
    print("resumed with changed settings: " + ", ".join(
        f"{k} {old} -> {new}" for k, (old, new) in changed.items()) + f"; {what}",
        file=sys.stderr)
    if chief:
        path = os.path.join(workdir, CONFIG_CHANGES_FILE)
        record = json.dumps({"step": step, "changed": changed,
                             "reevaluated": {k: list(v) for k, v in reevaluated.items()}})
        earlier = _previous_text(path) or ""
        write_text_atomic(path, earlier + record + "\n")


def build_model(config: ml_collections.ConfigDict, strategy=None):
    """Model and optimizers, compiled, every variable created (inside the strategy scope)."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = GenerativeCompression(config.model)
        g_schedule = make_schedule(config.lr_schedule, config.lr, config.num_steps,
                                   config.lr_decay_start)
        d_schedule = make_schedule(config.lr_schedule, config.d_lr, config.num_steps,
                                   config.lr_decay_start)
        g_optimizer = tf.keras.optimizers.Adam(g_schedule, config.adam_beta1, config.adam_beta2)
        d_optimizer = tf.keras.optimizers.Adam(d_schedule, config.adam_beta1, config.adam_beta2)
        if config.mixed_precision:
            g_optimizer = tf.keras.mixed_precision.LossScaleOptimizer(g_optimizer)
            d_optimizer = tf.keras.mixed_precision.LossScaleOptimizer(d_optimizer)
        model.compile(
            g_optimizer=g_optimizer, d_optimizer=d_optimizer, gan_loss=config.gan_loss,
            lambda_mse=config.lambda_mse, lambda_fm=config.lambda_fm,
            lambda_vgg=config.lambda_vgg, vgg_weights_path=config.vgg_weights_path,
            lambda_lowpass=config.lambda_lowpass, lowpass_factor=config.lowpass_factor,
            lambda_ms_ssim=config.lambda_ms_ssim,
            beta_rate=config.beta_rate, d_steps=config.d_steps,
            gradient_penalty_weight=config.gradient_penalty_weight,
            ema_decay=config.ema_decay, jit_compile=config.jit_compile,
            d_scale_weights=tuple(config.d_scale_weights),
            gan_weight=gan_weight_schedule(gan_start(config), config.num_steps,
                                           config.gan_weight_end))
        # train_step returns metric results that are already means over every replica and
        # worker; Keras' default ("sum" across workers) would add them up once per worker.
        model.distribute_reduction_method = "first"
        model.build_all(min(64, config.data.crop_size))
        # Create optimizer slots now so a checkpoint restores them immediately.
        g_optimizer.build(model.generator_variables)
        d_optimizer.build(model.discriminator.trainable_variables)
    return model, {"generator": g_schedule, "discriminator": d_schedule}


def make_checkpoint(model: GenerativeCompression) -> tf.train.Checkpoint:
    """The object paths tfgc.workdir documents (inference restores E and G from them)."""
    return tf.train.Checkpoint(model=model, g_optimizer=model.g_optimizer,
                               d_optimizer=model.d_optimizer)


def _initialise(model: GenerativeCompression, batch: tf.Tensor, target_std: float,
                strategy: tf.distribute.Strategy) -> None:
    if target_std > 0:
        def latent_std(images):
            std = tf.math.reduce_std(tf.cast(model.encoder(images * 2.0 - 1.0), tf.float32))
            # One factor for every replica and worker (each saw its own batch): the weights
            # must stay identical copies.
            return tf.distribute.get_replica_context().all_reduce("MEAN", std)

        std = float(strategy.experimental_local_results(
            strategy.run(latent_std, args=(batch,)))[0])
        model.encoder.rescale_output(target_std / max(std, 1e-8))
        symbols = model.quantizer.symbols(model.encoder(batch * 2.0 - 1.0))
        used = int(tf.size(tf.unique(tf.reshape(symbols, [-1]))[0]))
        print(f"latent init: std {std:.4f} -> {target_std}; {used} of "
              f"{model.num_centers} centers in use at step 0", file=sys.stderr)
    model.reset_ema()


def _datasets(config: ml_collections.ConfigDict):
    """(train data, eval dataset, sample batch) for the config's data layout; train data is a
    function: step -> the training batches from that step on."""
    data = config.data
    if data.layout == "images":
        train_files = pipeline.find_images(data.train, data.on_corrupt)
        eval_files = (pipeline.find_images(data.eval, data.on_corrupt)
                      if data.eval else train_files)
        count, skipped = len(train_files.paths), len(train_files.skipped)
        train_data = functools.partial(
            pipeline.train_dataset, train_files, data.crop_size, config.batch_size,
            config.seed, data.cache, data.shuffle_buffer)
        eval_data = pipeline.eval_dataset(eval_files, data.eval_crop_size, data.num_eval_images)
        sample_batch = next(iter(pipeline.eval_dataset(
            eval_files, data.eval_crop_size or 256, 4)))
    else:
        train_files = labeled.find_labeled(data.train, data.layout, data.train_split,
                                           data.on_corrupt)
        eval_files = (labeled.find_labeled(data.eval or data.train, data.layout,
                                           data.eval_split or data.train_split,
                                           data.on_corrupt)
                      if data.eval or data.eval_split else train_files)
        count, skipped = len(train_files.images), len(train_files.skipped)
        sc = config.model.mode == "sc"
        train_data = functools.partial(
            labeled.labeled_train_dataset, train_files, data.crop_size, config.batch_size,
            config.seed, data.cache, data.shuffle_buffer, data.preserve_mode if sc else None)
        eval_crop = data.eval_crop_size or data.crop_size
        eval_data = labeled.labeled_eval_dataset(eval_files, eval_crop, data.num_eval_images, sc)
        sample_batch = next(iter(labeled.labeled_eval_dataset(eval_files, eval_crop, 4, sc)))
    print(f"training on {count} image(s)" + (f", skipped {skipped} unusable" if skipped else ""),
          file=sys.stderr)
    return train_data, eval_data, sample_batch


def train(config: ml_collections.ConfigDict, workdir: str) -> GenerativeCompression:
    """Trains to config.num_steps in `workdir`, resuming from its latest checkpoint.

    In a multi-worker run every worker calls this with the same (shared) workdir; the chief
    writes config.json, checkpoints, TensorBoard events and samples, and holds the workdir's
    writer lock, so a second run on the same workdir is refused while this one lives.
    """
    validate_config(config)
    strategy = make_strategy(config.distribution, config.cpu_replicas)
    chief = is_chief(strategy)
    checkpoint_dir = os.path.join(workdir, CHECKPOINT_DIR)
    with writer_lock(checkpoint_dir) if chief else contextlib.nullcontext():
        return _train(config, workdir, strategy, chief)


def _train(config: ml_collections.ConfigDict, workdir: str, strategy: tf.distribute.Strategy,
           chief: bool) -> GenerativeCompression:
    os.makedirs(workdir, exist_ok=True)
    previous = _previous_text(os.path.join(workdir, CONFIG_FILE))  # before it is rewritten
    changed = ({} if previous is None else
               changed_settings(json.loads(previous), json.loads(to_json(config)),
                                 json.loads(to_json(default_config()))))
    _check_resumable(workdir, changed)
    if chief:
        write_text_atomic(os.path.join(workdir, CONFIG_FILE), to_json(config))
    tf.keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")

    train_data, eval_data, sample_batch = _datasets(config)
    model, schedules = build_model(config, strategy)
    task_type, task_id = task(strategy)
    print(f"{strategy.num_replicas_in_sync} replica(s)"
          + (f", {task_type} {task_id}{' (chief)' if chief else ''}" if task_type else "")
          + f", compute dtype {model.compute_dtype}, XLA {'on' if model.jit_compile else 'off'}",
          file=sys.stderr)

    with strategy.scope():
        checkpoint = make_checkpoint(model)
    writer = CheckpointWriter(checkpoint, os.path.join(workdir, CHECKPOINT_DIR),
                              config.keep_checkpoints, chief, task_id)
    rescale = not writer.latest_checkpoint  # a new run's latents get the target std
    if writer.latest_checkpoint:
        checkpoint.restore(writer.latest_checkpoint).assert_existing_objects_matched()
        print(f"resumed from {writer.latest_checkpoint} at step {model.current_step()}",
              file=sys.stderr)
        if previous is not None:
            _report_config_changes(workdir, previous, changed, config, model.current_step(),
                                   chief)
    elif config.init_from:
        source, fresh = warm_start(model, config.init_from, config)
        print(f"starting a new run in {workdir}, E and G from {source}", file=sys.stderr)
        if fresh:
            print("new bottleneck: re-initialised " + "; ".join(
                f"{net} {', '.join(names)}" for net, names in fresh.items()), file=sys.stderr)
        rescale = "encoder" in fresh  # only a fresh last conv of E needs it
    else:
        print(f"starting a new run in {workdir}", file=sys.stderr)
    if rescale:
        first = next(iter(train_data(start_step=0)))
        _initialise(model, first["image"] if isinstance(first, dict) else first,
                    config.model.latent_init_std, strategy)

    common = [
        callbacks.Checkpointer(writer, config.checkpoint_every),
        callbacks.Monitor(workdir, eval_data, sample_batch, schedules, config.sample_every,
                          config.eval_every, chief),
    ]
    common[0].set_model(model)  # the final save below also runs when no phase fits (0 steps)
    progress = callbacks.StepLog(config.num_steps)  # before Monitor: its line excludes eval
    phases = [("distortion-only warm-up", False, False, config.warmup_steps),
              ("discriminator warm-up", True, True, gan_start(config)),
              ("GAN", True, False, config.num_steps)]
    for name, gan_active, d_warmup, end in phases:
        step, end = model.current_step(), min(end, config.num_steps)
        if step >= end:
            continue
        if (model.gan_active, model.d_warmup) != (gan_active, d_warmup):
            model.gan_active, model.d_warmup = gan_active, d_warmup
            model.train_function = None  # retrace: the phases are different graphs
        print(f"{name} phase: steps {step} -> {end}", file=sys.stderr)
        # The batches from this step on: a phase switch or a resumed run continues the data
        # stream of an uninterrupted run instead of restarting it.
        model.fit(train_data(start_step=step), initial_epoch=step // config.log_every,
                  epochs=math.ceil(end / config.log_every), steps_per_epoch=config.log_every,
                  callbacks=[progress, *common, callbacks.StopAtStep(end)], verbose=0)
    common[0].save()
    return model
