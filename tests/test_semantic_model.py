"""GC(D+) and SC models: where the label map goes, masked latents, masked distortion, train.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO_ROOT, tiny_config, train_py_here
from tfgc.models.gc import GenerativeCompression
from tfgc.semantic import scenes

CLASSES = 19


def semantic_config(mode: str):
    config = tiny_config()
    config.model.mode = mode
    config.model.condition_channels = CLASSES
    config.data.layout = config.model.label_set = "cityscapes"
    return config


@pytest.fixture(scope="module")
def build():
    """build(mode): a built GenerativeCompression of the semantic config, made once per mode
    for this module (tests must not change its weights)."""
    models: dict[str, GenerativeCompression] = {}

    def get(mode: str) -> GenerativeCompression:
        if mode not in models:
            models[mode] = GenerativeCompression(semantic_config(mode).model)
            models[mode].build_all(32)
        return models[mode]

    return get


def _first_kernel(net: tf.keras.Model) -> tf.Variable:
    return next(v for v in net.trainable_variables if "kernel" in v.name)


@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("scenes"))
    scenes.write_scenes(root, 4, 64, 128, seed=0)
    return root


def test_gc_dplus_gives_the_label_map_to_d_only(build):
    gc, dplus = build("gc"), build("gc_dplus")
    assert _first_kernel(dplus.discriminator.scales[0]).shape[2] == 3 + CLASSES
    assert _first_kernel(gc.discriminator.scales[0]).shape[2] == 3
    # E and G (what encoding and decoding use) are the same networks as GC's.
    for a, b in ((gc.encoder, dplus.encoder), (gc.generator, dplus.generator)):
        assert [v.shape for v in a.weights] == [v.shape for v in b.weights]
    assert dplus.semantic_features is None


def test_sc_zeroes_masked_latents_and_conditions_g_on_f(build):
    model = build("sc")
    assert _first_kernel(model.semantic_features).shape[2] == CLASSES
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, 5, (1, 2, 3, 8)).astype(np.int32)
    mask = np.ones((1, 2, 3, 1), np.float32)
    mask[0, 1, 2] = 0
    labels = tf.one_hot(rng.integers(0, CLASSES, (1, 32, 48)), CLASSES)
    base = model.synthesis(symbols, 0, labels, mask).numpy()
    changed = symbols.copy()
    changed[0, 1, 2] = (changed[0, 1, 2] + 1) % 5  # a masked position: no effect at all
    np.testing.assert_array_equal(model.synthesis(changed, 0, labels, mask).numpy(), base)
    changed[0, 0, 0] = (changed[0, 0, 0] + 1) % 5  # a preserved position: an effect
    assert np.abs(model.synthesis(changed, 0, labels, mask).numpy() - base).max() > 0
    other_labels = tf.one_hot(rng.integers(0, CLASSES, (1, 32, 48)), CLASSES)
    assert np.abs(model.synthesis(symbols, 0, other_labels, mask).numpy() - base).max() > 0


def test_sc_distortion_counts_preserved_pixels_only(build):
    model = build("sc")
    x = tf.zeros([1, 32, 32, 3])
    latent_mask = tf.constant([[[[1.0], [0.0]], [[0.0], [0.0]]]])
    outside = np.zeros((1, 32, 32, 3), np.float32)
    outside[0, 20:, :] = 1.0  # differs only in the synthesised region
    assert float(model._distortion(x, outside, latent_mask)) == 0.0
    inside = np.zeros((1, 32, 32, 3), np.float32)
    inside[0, :16, :16] = 0.5
    assert float(model._distortion(x, inside, latent_mask)) == pytest.approx(0.25)
    assert float(model._distortion(x, inside, tf.zeros_like(latent_mask))) == 0.0


def train_py(scenes_root: str, workdir: str, mode: str, preserve: str, *flags: str) -> None:
    """One GAN step of a tiny conditioned model through train.py (configs/cpu_sc_scenes.py
    shrunk, then `flags`), checked: the discriminator trained, the mode and label set
    recorded."""
    args = [sys.executable, os.path.join(REPO_ROOT, "train.py"),
            "--config=" + os.path.join(REPO_ROOT, "configs", "cpu_sc_scenes.py"),
            f"--workdir={workdir}", f"--config.data.train={scenes_root}",
            f"--config.model.mode={mode}", f"--config.data.preserve_mode={preserve}",
            "--config.data.crop_size=64", "--config.data.eval_crop_size=64",
            "--config.data.num_eval_images=1", "--config.model.width_multiplier=0.0625",
            "--config.model.num_residual_blocks=1", "--config.batch_size=2",
            "--config.num_steps=1", "--config.warmup_steps=0", "--config.log_every=1", *flags]
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GAN phase: steps 0 -> 1" in result.stderr
    assert "gan_d" in result.stdout + result.stderr  # the discriminator was trained
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["model"]["mode"] == mode and saved["model"]["condition_channels"] == CLASSES
    assert saved["data"]["preserve_mode"] == preserve
    if mode == "sc":
        assert "preserved_fraction" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode,preserve", [("gc_dplus", "ri"), ("sc", "rb")])
def test_train_py_runs_a_conditioned_gan_step(scenes_root, tmp_path, mode, preserve):
    """GC(D+) and SC with random boxes; SC with random instances is the model that
    tests/test_semantic_codec.py trains with `train_py` and then compresses with."""
    train_py(scenes_root, str(tmp_path / "run"), mode, preserve)


def test_train_refuses_labels_without_a_labelled_layout(tmp_path):
    """train.py's `main` in this process (the command runs as a process above; a process
    would cost a TensorFlow start to refuse the config before any work)."""
    code, stderr = train_py_here("--config=" + os.path.join(REPO_ROOT, "configs", "tiny.py"),
                                 f"--workdir={tmp_path / 'run'}", "--config.model.mode=sc",
                                 "--config.model.condition_channels=19")
    assert code == 1 and "Traceback" not in stderr
    assert "error: model.mode=sc trains on label maps" in stderr
    assert not (tmp_path / "run").exists()


def test_fingerprint_covers_f():
    from tfgc.export.modules import decoder_fingerprint
    from tfgc.networks import CodecNetworks

    networks = CodecNetworks.from_config(semantic_config("sc").model)
    before = decoder_fingerprint(networks)
    kernel = _first_kernel(networks.semantic_features)
    kernel.assign(kernel + 0.01)
    assert decoder_fingerprint(networks) != before
