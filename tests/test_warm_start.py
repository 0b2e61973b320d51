"""`train.py --config.init_from=PATH`: a new run starts from another model's E and G.

Run the way a user runs it (train.py in a fresh process): from the bundled model (a SavedModel)
into a new bottleneck (C=4, L=13: `--config.init_from_new_bottleneck`) and from the session's
tiny training workdir. The weights must arrive exactly (all but the named C-shaped ones), the
source must be recorded in the run's config.json, and a source of another architecture must be
refused with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

BUNDLED = os.path.join(REPO_ROOT, "tfgc", "assets", "model")
SMALL_RUN = ["--config.data.crop_size=32", "--config.data.eval_crop_size=32",
             "--config.data.num_eval_images=1", "--config.batch_size=2", "--config.log_every=1",
             "--config.checkpoint_every=100", "--config.sample_every=100",
             "--config.eval_every=100"]
TINY_MODEL = ["--config=" + os.path.join(REPO_ROOT, "configs", "tiny.py"),
              "--config.model.width_multiplier=0.0625", "--config.model.num_residual_blocks=1",
              "--config.model.discriminator_scales=2", *SMALL_RUN]


def _start(workdir: str, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "train.py", f"--workdir={workdir}", *flags],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def runs(workdir, tmp_path_factory):
    """Three train.py runs at once: 0 steps from the bundled SavedModel into C=4/L=13 (its
    body, new bottleneck), 1 GAN step with the low-pass colour term from the tiny workdir, and
    the tiny config from the bundled model (another architecture: refused)."""
    root = tmp_path_factory.mktemp("warm_start")
    c4_config = "--config=" + os.path.join(REPO_ROOT, "configs", "cpu_gc_c4_l13.py")
    jobs = {
        "from_export": (_start(str(root / "a"), c4_config, *SMALL_RUN,
                               f"--config.init_from={BUNDLED}",
                               "--config.init_from_new_bottleneck=True", "--config.num_steps=0"),
                        str(root / "a")),
        "from_workdir": (_start(str(root / "b"), *TINY_MODEL, f"--config.init_from={workdir}",
                                "--config.num_steps=1", "--config.warmup_steps=0",
                                "--config.lambda_lowpass=5", "--config.lowpass_factor=8"),
                         str(root / "b")),
        "other_architecture": (_start(str(root / "c"), *TINY_MODEL,
                                      f"--config.init_from={BUNDLED}", "--config.num_steps=0"),
                               str(root / "c")),
    }
    results = {}
    for name, (proc, path) in jobs.items():
        out, err = proc.communicate(timeout=600)
        results[name] = (proc.returncode, out + err, path)
    return results


def _weights(path: str) -> list[np.ndarray]:
    from tfgc.codec import restore_networks

    networks = restore_networks(path).networks
    return [v.numpy() for v in networks.encoder.weights + networks.generator.weights]


def test_a_new_bottleneck_starts_from_a_saved_models_body_exactly(runs):
    from tfgc.codec import networks_from_saved_model
    from tfgc.config import from_json

    code, output, path = runs["from_export"]
    assert code == 0, output[-3000:]
    assert "E and G from" in output
    with open(os.path.join(BUNDLED, "assets.extra", "config.json")) as f:
        networks = networks_from_saved_model(BUNDLED, from_json(f.read()).model)
    source = [v.numpy() for v in networks.encoder.weights + networks.generator.weights]
    started = _weights(path)
    assert len(source) == len(started)
    reshaped = [(a.shape, b.shape) for a, b in zip(source, started) if a.shape != b.shape]
    for a, b in zip(source, started):
        if a.shape == b.shape:
            np.testing.assert_array_equal(a, b)
    # Exactly the C-shaped variables start fresh (E's last conv, G's first), named in one line.
    assert reshaped == [((3, 3, 160, 8), (3, 3, 160, 4)), ((8,), (4,)),
                        ((3, 3, 8, 160), (3, 3, 4, 160))]
    [line] = [x for x in output.splitlines() if x.startswith("new bottleneck: re-initialised")]
    assert "[3, 3, 160, 8] -> [3, 3, 160, 4]" in line and "[3, 3, 8, 160] -> [3, 3, 4, 160]" in line
    assert "of 13 centers in use at step 0" in output  # the fresh last conv was rescaled
    with open(os.path.join(path, "config.json")) as f:
        assert json.load(f)["model"]["num_channels"] == 4


def test_the_source_is_recorded_and_training_continues(runs, workdir):
    code, output, path = runs["from_workdir"]
    assert code == 0, output[-3000:]
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    assert config["init_from"] == workdir
    assert "lowpass_mse" in output  # the colour term was in the loss
    # One GAN step moved the weights away from the source's.
    assert any(not np.array_equal(a, b) for a, b in zip(_weights(workdir), _weights(path)))


def test_another_architecture_is_refused_in_one_line(runs):
    code, output, _ = runs["other_architecture"]
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "different architecture" in errors[0], output[-2000:]
    assert "model.num_residual_blocks: 6 there, 1 here" in errors[0]
    assert "Traceback" not in output


def test_a_new_bottleneck_needs_the_opt_in_and_allows_nothing_else():
    from tfgc.errors import ConfigError
    from tfgc.training.warm_start import check_same_architecture

    source = {"num_channels": 8, "centers": [-1, 0, 1], "num_residual_blocks": 6}
    c4 = {**source, "num_channels": 4, "centers": [-1, -0.5, 0, 0.5, 1]}
    with pytest.raises(ConfigError, match=r"set config\.init_from_new_bottleneck=True"):
        check_same_architecture(source, c4, "src")
    check_same_architecture(source, c4, "src", new_bottleneck=True)
    with pytest.raises(ConfigError, match=r"model\.num_residual_blocks: 6 there, 1 here\)") as e:
        check_same_architecture(source, {**c4, "num_residual_blocks": 1}, "src", True)
    assert "init_from_new_bottleneck" not in str(e.value)


def test_a_missing_or_foreign_source_is_a_config_error(tmp_path):
    from tfgc.errors import ConfigError
    from tfgc.training.warm_start import load_source

    with pytest.raises(ConfigError, match="does not exist"):
        load_source(str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="neither a training workdir"):
        load_source(str(tmp_path))
