"""The layout of a training workdir: written by the trainer, read by inference.

    WORKDIR/config.json          the full config the run was (last) started with
    WORKDIR/config_changes.jsonl one line per resume with other settings: the step, each
                                 changed field [old, new] and the schedules re-evaluated
    WORKDIR/checkpoints/ckpt-N   tf.train.Checkpoint(model=GenerativeCompression,
                                                     g_optimizer=..., d_optimizer=...)

Inference reads only the object paths below (E, q has no variables, G or its EMA copy, and the
step counter), so it never builds the trainer's optimizers, schedules or discriminator.
"""

from __future__ import annotations

import os

import ml_collections
import tensorflow as tf

from tfgc.errors import ModelLoadError

CONFIG_FILE = "config.json"
CONFIG_CHANGES_FILE = "config_changes.jsonl"
CHECKPOINT_DIR = "checkpoints"
MODEL_PATH = "model"  # the GenerativeCompression; its .encoder, .generator, .ema_generator
STEP_KEY = "g_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"  # E/G updates so far


def read_config(workdir: str) -> ml_collections.ConfigDict:
    from tfgc.config import from_json

    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise ModelLoadError(f"{workdir} is not a training workdir (no {CONFIG_FILE})")
    with open(path) as f:
        return from_json(f.read())


def find_checkpoint(workdir: str, checkpoint: str | None = None) -> str:
    """`checkpoint` if given, else the workdir's latest; a clear error when there is none."""
    checkpoint = checkpoint or tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    if not checkpoint:
        raise ModelLoadError(f"no checkpoint in {os.path.join(workdir, CHECKPOINT_DIR)}")
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise ModelLoadError(f"checkpoint {checkpoint} does not exist")
    return checkpoint


def checkpoint_step(checkpoint: str) -> int:
    """The training step a checkpoint was written at (0 if it does not record one)."""
    reader = tf.train.load_checkpoint(checkpoint)
    return int(reader.get_tensor(STEP_KEY)) if reader.has_tensor(STEP_KEY) else 0
