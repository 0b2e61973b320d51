"""The training contract: every option the README or tfgc/config.py documents, run the way a user
runs it (`python train.py ...` in a fresh process, 3 steps), then exported with `export.py` and
used by `compress/decompress` (tfgc's CLI main). The 2-worker multi-worker run on one workdir is
tests/test_train_cli_multi_worker.py.

Compatible options share a run (each run costs a TensorFlow start, ~3 CPU-s, and a compile of
the train step per phase, 5-30 CPU-s); the runs go two at a time. Which run covers which option
is the table `RUNS`; the README's training options are all in it
(tests/test_train_cli.py::test_readme_training_options_are_all_in_the_matrix).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, TF_LOG, photo, tfgc_here

pytestmark = pytest.mark.slow

TINY = ["--config=" + os.path.join(REPO_ROOT, "configs", "tiny.py"),
        "--config.num_steps=3", "--config.warmup_steps=1",
        "--config.model.width_multiplier=0.0625", "--config.model.num_residual_blocks=1",
        "--config.data.crop_size=32", "--config.data.eval_crop_size=32",
        "--config.data.num_eval_images=2", "--config.batch_size=2", "--config.log_every=2",
        "--config.checkpoint_every=100", "--config.sample_every=100", "--config.eval_every=100"]

# name -> the options the run covers. Every run trains 3 steps: 1 warm-up, 2 GAN (unless set).
# Each phase is one more compile of the train step, so the costly graphs keep to the GAN phase:
# the XLA run and the WGAN-GP run (two D steps, each with a double backprop: its D warm-up
# phase cost ~20 CPU-s, its warm-up ~5). The warm-up switch is the last run's, which also takes
# the D warm-up after its resume (3 -> 4, then GAN 4 -> 5; ~5 CPU-s there). D has one scale but
# in that run (tiny's two): a second scale cost the WGAN-GP run 10 CPU-s of 28, the mirrored 4.
RUNS = {
    "lsgan_xla_ema_noise_rate": [
        "--config.gan_loss=least_squares", "--config.jit_compile=True",
        "--config.model.discriminator_scales=1", "--config.warmup_steps=0",
        "--config.ema_decay=0.9", "--config.model.noise_channels=2", "--config.beta_rate=0.1",
        "--config.lr_schedule=linear_decay", "--config.model.upsampling=resize_conv",
        "--config.gan_weight_end=0.5"],
    "wgan_gp_sn_mixed_dsteps": [
        "--config.gan_loss=wgan_gp", "--config.gradient_penalty_weight=10.0",
        "--config.d_steps=2", "--config.model.spectral_norm=True",
        "--config.mixed_precision=True", "--config.model.upsampling=subpixel",
        "--config.model.padding=symmetric", "--config.lr_schedule=cosine",
        "--config.warmup_steps=0", "--config.model.discriminator_scales=1"],
    "hinge_mirrored_no_warmup": [
        "--config.gan_loss=hinge", "--config.distribution=mirrored", "--config.cpu_replicas=2",
        "--config.batch_size=4", "--config.warmup_steps=0", "--config.model.upsampling=transpose",
        "--config.model.encoder_norm=instance", "--config.model.generator_norm=instance",
        "--config.model.generator_upsample_norm=instance",
        "--config.model.latent_init_std=0.0", "--config.model.discriminator_scales=1",
        "--config.lambda_ms_ssim=1.0"],
    "nonsat_batchnorm_vgg_warmup_dwarmup_resume": [
        "--config.gan_loss=non_saturating", "--config.model.num_channels=4",
        "--config.lambda_vgg=10.0", "--config.vgg_weights_path={vgg19_weights}",
        "--config.model.encoder_norm=batch",
        "--config.model.generator_norm=none", "--config.model.discriminator_norm=none",
        "--config.model.padding=zero", "--config.warmup_steps=3",
        "--config.d_warmup_steps=1", "--config.data.eval_crop_size=0",
        "--config.data.on_corrupt=fail", "--config.data.cache=False",
        "--config.lr_schedule=linear_decay", "--config.gan_weight_end=0.5",
        "--config.d_scale_weights=[0.5, 1.0]"],
}
# The run that stops at the end of its warm-up (3 steps) and is resumed to RESUMED_STEPS: past
# the D warm-up (step 3 -> 4) into the GAN phase (4 -> 5). The longer num_steps re-evaluates its
# decaying lr and its GAN-weight ramp, which the resume says and records.
RESUMED = "nonsat_batchnorm_vgg_warmup_dwarmup_resume"
RESUMED_STEPS = 5
# Refused at start with a one-line error (what cannot work yet, or on this machine). Run with
# --verbosity=0: TensorFlow's log is shown as asked, and the error is still one line.
REFUSALS = {
    "condition_channels": (["--config.model.condition_channels=4", "--verbosity=0"],
                           "model.mode=gc_dplus or sc"),
    "d_scale_weights": (["--config.d_scale_weights=(1.0,2.0,4.0)"],
                        "has 3 weights but D has model.discriminator_scales=2"),
}
STALE_TEMP = "ckpt-9_temp"
# The XLA run's XLA builds its CPU code without LLVM's optimisations: that run's CPU 42 -> 19
# CPU-s (measured alone, the compile of the train step is most of it). What the run checks is
# that train.py's jit-compiled steps compile and train; an op XLA cannot compile fails before
# LLVM whatever its level, and the optimised code computes the same steps, only faster.
RUN_ENV = {"lsgan_xla_ema_noise_rate": {"XLA_FLAGS": "--xla_backend_optimization_level=0"}}


def _python(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _run_all(jobs: dict[str, list[str]], parallel: int = 2) -> dict[str, tuple[int, str]]:
    """Runs `python ARGS` for every job (in RUN_ENV's environment for its name), `parallel` at
    a time; name -> (exit code, output)."""
    pending, running, done = list(jobs.items()), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            name, args = pending.pop(0)
            running[name] = _python(args, RUN_ENV.get(name))
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                out, err = proc.communicate()
                done[name] = (proc.returncode, out + err)
                del running[name]
        time.sleep(0.2)
    return done


def write_images(folder) -> str:
    """The training photos of every run: three small sizes."""
    for i, (h, w) in enumerate([(48, 64), (64, 48), (40, 40)]):
        Image.fromarray(photo(h, w, seed=i)).save(folder / f"img{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("train_images"))


def _flags(name: str, vgg19_weights: str) -> list[str]:
    flags = RUNS[name] if name in RUNS else REFUSALS[name][0]
    return [flag.format(vgg19_weights=vgg19_weights) for flag in flags]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, images, vgg19_weights):
    """Runs every RUNS and REFUSALS entry through train.py; name -> (code, output, workdir)."""
    root = tmp_path_factory.mktemp("matrix")
    jobs, workdirs = {}, {}
    for name in [*RUNS, *REFUSALS]:
        workdirs[name] = str(root / name)
        jobs[name] = ["train.py", *TINY, f"--workdir={workdirs[name]}",
                      f"--config.data.train={images}", *_flags(name, vgg19_weights)]
    results = _run_all(jobs)
    # Resume the warm-up-only run past the switches to the D warm-up and GAN phases, with a
    # stale temp planted as a SIGKILL mid-save leaves it.
    name = RESUMED
    if results[name][0] == 0:
        os.makedirs(os.path.join(workdirs[name], "checkpoints", STALE_TEMP))
        resumed = _run_all({name: [*jobs[name], f"--config.num_steps={RESUMED_STEPS}"]})[name]
        results[name] = (resumed[0], results[name][1] + "\n--- resumed ---\n" + resumed[1])
    return {k: (*results[k], workdirs[k]) for k in results}


def _epoch_logs(output: str) -> list[dict[str, float]]:
    """train.py's interval lines ('step 3/3: 2 steps, 40 ms/step - g_loss: 1.2 - mse: 0.1')
    as dicts of their metrics, plus 'step' and 'steps' (the steps the line covers)."""
    logs = []
    for line in output.splitlines():
        match = re.match(r"^step (\d+)/\d+: (\d+) steps?, \d+ ms/step(.*)$", line)
        if match:
            log = {k: float(v) for k, v in re.findall(r" - (\w+): ([-+\w.]+)", match[3])}
            logs.append({**log, "step": int(match[1]), "steps": int(match[2])})
    return logs


def _checkpoints(workdir: str) -> list[str]:
    return sorted(f for f in os.listdir(os.path.join(workdir, "checkpoints"))
                  if not f.startswith("."))


@pytest.mark.parametrize("name", list(RUNS))
def test_documented_options_train_from_train_py(matrix, vgg19_weights, name):
    code, output, workdir = matrix[name]
    assert code == 0, output[-4000:]
    assert "Traceback" not in output
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    for flag in _flags(name, vgg19_weights):  # the run used every option it claims to cover
        key, value = flag[len("--config."):].split("=", 1)
        node = config
        for part in key.split("."):
            node = node[part]
        assert str(node).lower() == value.lower(), (key, node, value)
    logs = _epoch_logs(output)
    assert logs and all(np.isfinite(v) for log in logs for v in log.values()), output[-3000:]
    final_step = RESUMED_STEPS if name == RESUMED else 3
    assert f"ckpt-{final_step}.index" in _checkpoints(workdir)
    # Each line counts the steps that really ran (log_every=2: phases end mid-interval).
    assert all(log["step"] - log["steps"] == before["step"]
               for before, log in zip([{"step": 0}, *logs], logs)), output[-3000:]
    assert logs[-1]["step"] == final_step
    gan_logs = [log for log in logs if "d_loss" in log]
    warmup = int(config["warmup_steps"])
    assert sum(log["steps"] for log in gan_logs) == final_step - warmup, output[-3000:]
    if warmup:
        assert f"distortion-only warm-up phase: steps 0 -> {warmup}" in output
    if config["d_warmup_steps"]:  # D learns, G sees no GAN term; then both
        end = warmup + int(config["d_warmup_steps"])
        assert f"discriminator warm-up phase: steps {warmup} -> {end}" in output
        assert [("gan_g" in log, "feature_matching" in log) for log in gan_logs
                if log["step"] <= end] == [(False, False)], output[-3000:]
        assert all("gan_g" in log for log in gan_logs if log["step"] > end), output[-3000:]
    if config["gan_weight_end"] != 1.0:
        assert all(0 < log["gan_weight"] <= 1 for log in gan_logs if "gan_g" in log)
    if config["gan_loss"] == "wgan_gp":
        assert all("gradient_penalty" in log for log in gan_logs)
    if config["beta_rate"] > 0:
        assert all("rate_bpp" in log for log in logs)
    if config["lambda_ms_ssim"] > 0:  # the term is in G's loss from the first step on
        assert all(0 < log["ms_ssim_loss"] <= 1 for log in logs), output[-3000:]
    # Mixed precision trains with loss scaling (float16 gradients underflow without it): both
    # optimizers' scales are in the checkpoint, and only then.
    import tensorflow as tf

    scaled = {name.split("/")[0] for name, _ in tf.train.list_variables(tf.train.latest_checkpoint(
        os.path.join(workdir, "checkpoints"))) if "/loss_scale/current_loss_scale" in name}
    if config["mixed_precision"]:
        assert "compute dtype float16" in output
        assert {"g_optimizer", "d_optimizer"} <= scaled, scaled
    else:
        assert not scaled, scaled
    if config["jit_compile"]:
        assert "XLA on" in output
    if config["distribution"] == "mirrored":
        assert "2 replica(s)" in output
    if config["lambda_vgg"] > 0:
        assert all(log["vgg"] > 0 for log in logs), output[-3000:]


def test_the_vgg_loss_trains_in_both_phases_and_stays_out_of_checkpoints(matrix):
    """train.py under absl's app.run builds VGG19 from a locally built weights file (the
    Keras functional API, which TF first imported inside app.run broke: tests/test_absl_app.py),
    in the warm-up and, after a resume that reloads it from the file, the D warm-up and GAN
    phases."""
    import tensorflow as tf

    code, output, workdir = matrix[RESUMED]
    assert code == 0, output[-3000:]
    logs = _epoch_logs(output)
    assert any("d_loss" not in log for log in logs) and any("d_loss" in log for log in logs)
    assert all(log["vgg"] > 0 for log in logs), output[-3000:]
    names = [name for name, _ in tf.train.list_variables(
        tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")))]
    assert names and not [n for n in names if n.startswith("model/vgg_loss/")]


def test_a_resumed_run_removes_stale_checkpoint_temps(matrix):
    code, output, workdir = matrix[RESUMED]
    assert code == 0, output[-3000:]
    resumed = output.split("--- resumed ---")[1]
    assert "resumed from" in resumed and "at step 3" in resumed
    assert "removed 1 stale checkpoint temp dir(s)" in resumed and STALE_TEMP in resumed
    assert not any(f.endswith("_temp") for f in _checkpoints(workdir))


def test_a_resume_with_another_num_steps_says_what_it_reevaluates_and_records_it(matrix):
    """The lr schedule and the GAN-weight ramp are functions of num_steps, not checkpoint state:
    the resumed run (3 -> 5 steps) says so in one line and appends it to config_changes.jsonl.
    Its linear decay ran from step 1 to 0 at step 3; with 5 steps it runs from step 2, so the
    lr at step 3 jumps from 0 to 2/3 of the base lr."""
    code, output, workdir = matrix[RESUMED]
    assert code == 0, output[-3000:]
    first, resumed = output.split("--- resumed ---")
    assert "resumed with changed settings" not in first
    lines = [line for line in resumed.splitlines()
             if line.startswith("resumed with changed settings: ")]
    assert len(lines) == 1, resumed[-3000:]
    assert f"num_steps 3 -> {RESUMED_STEPS}; re-evaluated from the new values:" in lines[0]
    assert "G's GAN + FM weight at step 3" in lines[0]
    assert f"(1 at step 4 -> 0.5 at step {RESUMED_STEPS})" in lines[0]
    assert f"(linear_decay from step 2 to 0 at step {RESUMED_STEPS})" in lines[0]
    with open(os.path.join(workdir, "config.json")) as f:
        lr = json.load(f)["lr"]
    with open(os.path.join(workdir, "config_changes.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 1
    record = records[0]
    assert record["step"] == 3 and record["changed"] == {"num_steps": [3, RESUMED_STEPS]}
    assert record["reevaluated"]["lr"] == pytest.approx([0.0, lr * 2 / 3])
    assert record["reevaluated"]["gan_weight"] == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("name", list(REFUSALS))
def test_unsupported_options_are_refused_at_start(matrix, name):
    code, output, workdir = matrix[name]
    assert code == 1, output[-3000:]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and REFUSALS[name][1] in errors[0], output[-3000:]
    assert not os.path.exists(os.path.join(workdir, "checkpoints", "checkpoint"))


def test_train_py_shows_tensorflow_log_only_when_asked(matrix):
    """Quiet by default (no C++ start-up lines, no grappler 'remapper failed', no Keras saving
    warnings); absl's --verbosity=0 shows TensorFlow's log."""
    for name in RUNS:
        output = matrix[name][1]
        assert not TF_LOG.search(output), (name, TF_LOG.search(output), output[-3000:])
    assert TF_LOG.search(matrix["condition_channels"][1])


def test_trained_run_exports_and_round_trips_through_the_cli(matrix, images, tmp_path):
    code, output, workdir = matrix["lsgan_xla_ema_noise_rate"]
    assert code == 0, output[-3000:]
    exports = str(tmp_path / "exports")
    result = subprocess.run(
        [sys.executable, "export.py", f"--workdir={workdir}", f"--export_dir={exports}",
         f"--tables_data={images}"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exported step 3" in result.stdout
    assert not TF_LOG.search(result.stdout + result.stderr), result.stderr[-3000:]
    # `python -m tfgc` by its `main` in this process: both commands run as processes on an
    # export in tests/test_semantic_codec.py and on a workdir in tests/test_codec.py; a start
    # and a model load each (~7 CPU-s) would prove nothing more here.
    source = os.path.join(images, "img0.png")
    packed, unpacked = str(tmp_path / "img0.tfgc"), str(tmp_path / "img0.png")
    for args in (["compress", source, "-o", packed], ["decompress", packed, "-o", unpacked]):
        code, stderr = tfgc_here(*args, "--model", exports)
        assert code == 0, stderr[-3000:]
        assert "Traceback" not in stderr and not TF_LOG.search(stderr), stderr[-3000:]
    original = np.asarray(Image.open(source))
    decoded = np.asarray(Image.open(unpacked))
    assert decoded.shape == original.shape
    assert 0 < os.path.getsize(packed) < original.size  # far below 8 bits per value


def test_readme_training_options_are_all_in_the_matrix():
    """Every `--config.X` the README shows is an option some run above exercises (or refuses)."""
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Training", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"--config\.([\w.]+)", section))
    covered = {flag[len("--config."):].split("=")[0] for flags in
               [TINY, *RUNS.values(), *(v[0] for v in REFUSALS.values()), MULTI_WORKER_FLAGS]
               for flag in flags if flag.startswith("--config.")}
    covered |= {"data.train"}  # every run passes it
    # Warm starts and the low-pass colour term run through train.py in tests/test_warm_start.py.
    with open(os.path.join(REPO_ROOT, "tests", "test_warm_start.py")) as f:
        warm_start_test = f.read()
    covered |= {k for k in ("init_from", "init_from_new_bottleneck", "lambda_lowpass",
                          "lowpass_factor")
                if f"--config.{k}=" in warm_start_test}
    assert documented <= covered, sorted(documented - covered)


# The 2-worker run (tests/test_train_cli_multi_worker.py, its own file so that pytest-xdist can
# run it beside the matrix) covers these.
MULTI_WORKER_FLAGS = ["--config.distribution=multi_worker", "--config.batch_size=4"]
