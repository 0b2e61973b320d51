"""Shared fixtures: tiny models and small images so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test data that does not ship with tfgc (the Kodak images): the one setting that points at it,
# documented in README.md (Development). Tests reach it only through `external_data`.
SHARED_DATA = os.environ.get("TFGC_TEST_DATA") or os.path.join(
    os.path.dirname(REPO_ROOT), "shared", "data")


def external_data(*parts: str) -> str:
    """A path under TFGC_TEST_DATA; skips the calling test, saying what is missing, if absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"{os.path.join(*parts)} not found under TFGC_TEST_DATA={SHARED_DATA} "
                    "(set TFGC_TEST_DATA to the folder holding the external test data)")
    return path


def tiny_config():
    """configs/tiny.py shrunk further: 64x64 crops, 1/16 width, one residual block."""
    from configs import tiny

    config = tiny.get_config()
    config.model.width_multiplier = 1 / 16
    config.model.num_residual_blocks = 1
    config.model.discriminator_scales = 2
    config.data.crop_size = 64
    config.data.eval_crop_size = 64
    config.data.num_eval_images = 2
    config.batch_size = 2
    config.num_steps = 4
    config.warmup_steps = 2
    config.log_every = 2
    config.checkpoint_every = 2
    config.sample_every = 2
    config.eval_every = 2
    return config


@pytest.fixture
def config():
    return tiny_config()


@pytest.fixture
def image_folder(tmp_path):
    """Three small synthetic photos-like PNGs (smooth gradients plus texture)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (h, w) in enumerate([(80, 96), (64, 64), (100, 72)]):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
        pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return str(folder)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with noise: compressible, but not constant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 200 / max(w, 1), y * 200 / max(h, 1), np.full((h, w), 90.0)], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A tiny model trained for 2 steps: weights that are not the initial ones."""
    from tfgc.training.trainer import train

    config = tiny_config()
    config.num_steps = config.warmup_steps = 2
    path = str(tmp_path_factory.mktemp("tiny_run"))
    train(config, path)
    return path


@pytest.fixture(scope="session")
def codec(workdir):
    from tfgc.codec import load_codec

    return load_codec(workdir)




@pytest.fixture(scope="session")
def vgg19_weights(tmp_path_factory):
    """A Keras VGG19 include_top=False weights file with random weights (tfgc never downloads
    the real ones; the loss only needs the file's layout)."""
    import tensorflow as tf

    path = str(tmp_path_factory.mktemp("vgg19") / "vgg19_notop.h5")
    tf.keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _environment_of_a_users_shell():
    """Commands a test starts (train.py, export.py, python -m tfgc) see a user's environment.

    `import tensorflow` sets TF2_BEHAVIOR=1 in os.environ, once per process; a child inheriting
    it hid a defect of TF first imported inside absl's app.run (tfgc/utils/absl_app.py) from
    every test while the same commands failed in a shell. Import TF first, then drop it.
    """
    import tensorflow  # noqa: F401

    os.environ.pop("TF2_BEHAVIOR", None)


@pytest.fixture(scope="session")
def export_dir(workdir, tmp_path_factory):
    """The tiny model exported by export.py (full and stock SavedModels, version 1)."""
    import subprocess
    import sys

    out = str(tmp_path_factory.mktemp("exports"))
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export.py"), f"--workdir={workdir}",
         f"--export_dir={out}"], capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out
