"""The codec's networks: one object for analysis/synthesis and the facts a file depends on,
restored for inference from a training checkpoint without the trainer."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, tiny_config


def test_importing_the_codec_imports_no_training_code():
    code = ("import sys, tfgc.codec\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['tfgc', 'training'], ['tfgc', 'models'], ['tfgc', 'losses']))\n"
            "print('IMPORTED', bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "IMPORTED []" in result.stdout, result.stdout


def test_stride_channels_centers_and_bound_come_from_the_networks():
    import tensorflow as tf

    from tfgc.errors import ConfigError
    from tfgc.models.gc import GenerativeCompression
    from tfgc.networks import CodecNetworks

    config = tiny_config()
    config.model.num_channels = 3
    config.model.centers = (-1.0, 0.0, 1.0)
    config.model.encoder_filters = (8, 8, 8, 8)  # three downsamplings: stride 8
    config.model.upsample_filters = (8, 8, 8)
    networks = CodecNetworks.from_config(config.model)
    assert (networks.stride, networks.num_channels, networks.num_centers) == (8, 3, 3)
    assert networks.bpp_bound == pytest.approx(3 * math.log2(3) / 64)
    symbols = networks.analysis(tf.zeros([2, 24, 40, 3]))
    assert symbols.shape == (2, 3, 5, 3) and symbols.dtype == tf.int32
    assert networks.synthesis(symbols).shape == (2, 24, 40, 3)
    assert GenerativeCompression(config.model).bpp_bound == networks.bpp_bound
    config.model.upsample_filters = (8, 8)
    with pytest.raises(ConfigError, match="upsamples by 4"):
        CodecNetworks.from_config(config.model)


def test_per_item_noise_seeds_match_batches_of_one():
    import tensorflow as tf

    from tfgc.layers.noise import latent_noise

    latents = tf.zeros([3, 2, 4, 8])
    batch = latent_noise(latents, 2, tf.constant([5, 0, 2**32 - 1], tf.int64))
    for i, seed in enumerate([5, 0, 2**32 - 1]):
        np.testing.assert_array_equal(batch[i:i + 1], latent_noise(latents[:1], 2, seed))
    assert not np.array_equal(batch[0], batch[1])


def _save_run(config, path) -> object:
    """A workdir whose checkpoint the trainer wrote (no training steps: fast)."""
    import tensorflow as tf

    from tfgc.config import to_json
    from tfgc.training.trainer import build_model, make_checkpoint

    model, _ = build_model(config)
    if model.ema_generator is not None:  # make the EMA copy differ from G
        for weight in model.ema_generator.weights:
            weight.assign(weight + 0.25)
    model.g_optimizer.iterations.assign(7)
    os.makedirs(path / "checkpoints")
    (path / "config.json").write_text(to_json(config))
    manager = tf.train.CheckpointManager(make_checkpoint(model), str(path / "checkpoints"), 2)
    manager.save()
    return model


def test_restore_for_inference_reads_e_and_the_ema_copy_of_g(tmp_path):
    """(Without EMA, the session's `codec` fixture restores G this way for every codec test.)"""
    import tensorflow as tf

    from tfgc.codec import restore_networks

    config = tiny_config()
    config.ema_decay = 0.99
    model = _save_run(config, tmp_path)
    restored = restore_networks(str(tmp_path))
    assert restored.step == 7
    expected = model.networks
    assert expected.generator is model.ema_generator
    for got, want in zip(restored.networks.trainable_variables + restored.networks.variables,
                         expected.trainable_variables + expected.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    images = tf.random.stateless_uniform([1, 32, 48, 3], [1, 2])
    np.testing.assert_array_equal(restored.networks.synthesis(restored.networks.analysis(images)),
                                  model.synthesis(model.analysis(images)))


def test_restore_refuses_a_checkpoint_of_another_architecture(tmp_path):
    from tfgc.codec import restore_networks
    from tfgc.errors import ModelLoadError

    _save_run(tiny_config(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model"]["num_residual_blocks"] += 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="does not hold the networks"):
        restore_networks(str(tmp_path))
