"""Training runs: resume, distribution, bad data, configs, kill safety."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO_ROOT, tiny_config
from tfgc.data import pipeline
from tfgc.errors import ConfigError, DataError
from tfgc.training.trainer import build_model, make_checkpoint, train


def _recording_train_dataset(monkeypatch) -> list[tuple[int, list[np.ndarray]]]:
    """Makes every training dataset record the batches it delivers: [(start step, batches)],
    one entry per dataset the trainer asked for."""
    streams, real = [], pipeline.train_dataset

    def recorded(*args, **kwargs):
        batches: list[np.ndarray] = []
        streams.append((kwargs.get("start_step", 0), batches))

        def record(batch):
            seen = tf.py_function(lambda b: batches.append(b.numpy()) or 0, [batch], tf.int32)
            with tf.control_dependencies([seen]):
                return tf.identity(batch)

        return real(*args, **kwargs).map(record)

    monkeypatch.setattr(pipeline, "train_dataset", recorded)
    return streams


def test_train_writes_workdir_and_resumes(config, image_folder, tmp_path, capsys, monkeypatch):
    workdir = str(tmp_path / "run")
    config.data.train = image_folder
    # Cheaper steps and GAN-phase compiles (two here, one per run); what is checked (data
    # order, steps, weights in the checkpoint) does not depend on them.
    config.data.crop_size = config.data.eval_crop_size = 32
    config.model.discriminator_scales = 1
    real_train_dataset = pipeline.train_dataset
    streams = _recording_train_dataset(monkeypatch)
    model = train(config, workdir)
    assert model.current_step() == 4
    assert int(model.d_optimizer.iterations) == 2  # GAN phase: steps 2..4
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["num_steps"] == 4
    assert glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))
    assert glob.glob(os.path.join(workdir, "samples", "step_*.png"))
    saved = [v.numpy().copy() for v in model.generator.weights]

    config.num_steps = 6
    resumed = train(config, workdir)
    err = capsys.readouterr().err
    assert "resumed from" in err and "at step 4" in err
    assert resumed.current_step() == 6

    # The data order of an uninterrupted run: each fit (warm-up 0-2, GAN 2-4, the resumed run
    # 4-6) starts where the previous one stopped, instead of replaying the first batches.
    assert [start for start, _ in streams] == [0, 0, 2, 4]  # the first: latent init
    consumed = [batch for _, batches in streams[1:] for batch in batches[:2]]
    tf.keras.utils.set_random_seed(config.seed)
    files = pipeline.find_images(image_folder)
    uninterrupted = list(real_train_dataset(files, config.data.crop_size, config.batch_size,
                                            config.seed).take(6).as_numpy_iterator())
    assert len(consumed) == 6
    for a, b in zip(consumed, uninterrupted):
        np.testing.assert_array_equal(a, b)

    # The step-4 checkpoint holds exactly the weights the first run ended with.
    fresh, _ = build_model(config)  # the same architecture (num_steps only sets schedules)
    make_checkpoint(fresh).restore(os.path.join(workdir, "checkpoints", "ckpt-4")).expect_partial()
    for a, b in zip(saved, fresh.generator.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert fresh.current_step() == 4


def test_resume_refuses_a_different_architecture(config, image_folder, workdir, tmp_path):
    run = str(tmp_path / "run")
    shutil.copytree(workdir, run)  # the session's tiny run (tiny_config), not trained again
    config.data.train = image_folder
    config.num_steps = config.warmup_steps = 2
    config.model.num_channels = 4
    with pytest.raises(ConfigError, match=r"model\.num_channels"):
        train(config, run)


def test_empty_folder_is_a_clear_error(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(DataError, match="nothing"):
        pipeline.find_images(str(empty))
    with pytest.raises(DataError, match="no PNG or JPEG"):
        pipeline.find_images(str(tmp_path / "missing" / "*.png"))


def test_corrupt_files_are_skipped_and_counted_or_fatal(image_folder):
    bad = os.path.join(image_folder, "broken.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not a png")
    good = os.path.join(image_folder, "img0.png")
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(image_folder, "truncated.png"), "wb") as f:
        f.write(data[: len(data) // 2])
    files = pipeline.find_images(image_folder, on_corrupt="skip")
    assert len(files.paths) == 3 and len(files.skipped) == 2
    batch = next(iter(pipeline.train_dataset(files, 32, 4)))
    assert batch.shape == (4, 32, 32, 3)
    with pytest.raises(DataError, match=r"broken\.png|truncated\.png"):
        pipeline.find_images(image_folder, on_corrupt="fail")


def test_small_images_are_upscaled_to_cover_the_crop(image_folder):
    files = pipeline.find_images(image_folder)
    batch = next(iter(pipeline.train_dataset(files, 128, 2)))  # images are <= 100 px
    assert batch.shape == (2, 128, 128, 3)
    assert float(tf.reduce_min(batch)) >= 0.0 and float(tf.reduce_max(batch)) <= 1.0


def test_bad_config_values_are_clear_errors(image_folder):
    files = pipeline.find_images(image_folder)
    with pytest.raises(ConfigError, match="multiple of 16"):
        pipeline.train_dataset(files, 50, 2)
    with pytest.raises(ConfigError, match="on_corrupt"):
        pipeline.find_images(image_folder, on_corrupt="maybe")


# config.model (JSON) -> what building it gave: (symbols' shape, parameter count). Configs that
# differ only outside `model` (sc_cityscapes_ri/rb: the training masks) build one model, once
# (a full-width build costs ~4 CPU-s).
_BUILT: dict[str, tuple[tuple[int, ...], int]] = {}


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO_ROOT, "configs", "*.py"))))
def test_every_config_builds(path):
    import importlib.util

    from tfgc.config import to_json

    if path.endswith("__init__.py"):
        return
    spec = importlib.util.spec_from_file_location("cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    from tfgc.models.gc import GenerativeCompression

    key = to_json(config.model)
    if key not in _BUILT:
        model = GenerativeCompression(config.model)
        model.build_all(32)
        _BUILT[key] = (tuple(model.analysis(tf.zeros([1, 32, 48, 3])).shape),
                       model.count_params())
    shape, params = _BUILT[key]
    assert shape == (1, 2, 3, config.model.num_channels)
    assert params > 0


@pytest.mark.slow
def test_sigkill_never_leaves_a_corrupt_latest_checkpoint(image_folder, tmp_path):
    workdir = str(tmp_path / "run")
    args = [sys.executable, os.path.join(REPO_ROOT, "train.py"),
            "--config=" + os.path.join(REPO_ROOT, "configs", "tiny.py"), f"--workdir={workdir}",
            f"--config.data.train={image_folder}", "--config.data.crop_size=64",
            "--config.data.eval_crop_size=64", "--config.model.width_multiplier=0.0625",
            "--config.model.num_residual_blocks=1", "--config.batch_size=2",
            "--config.num_steps=100000", "--config.checkpoint_every=1", "--config.log_every=5",
            "--config.eval_every=100000", "--config.sample_every=100000"]
    rng = np.random.default_rng(0)
    for attempt in range(2):
        proc = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        state = os.path.join(workdir, "checkpoints", "checkpoint")
        while not os.path.exists(state) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(rng.uniform(0.5, 3.0))  # somewhere mid-save, mid-step
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
        assert latest is not None, f"attempt {attempt}: no checkpoint"
        config = tiny_config()
        model, _ = build_model(config)
        make_checkpoint(model).restore(latest).assert_existing_objects_matched()
        assert model.current_step() == int(latest.rsplit("-", 1)[1])

