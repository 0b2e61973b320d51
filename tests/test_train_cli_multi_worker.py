"""The multi-worker contract: two train.py processes on localhost ports chosen free at run
time, sharing one workdir (what every cluster user does). Its own file, so that pytest-xdist
runs it beside the option matrix of tests/test_train_cli.py instead of after it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import numpy as np
import pytest

from tests.test_train_cli import (
    MULTI_WORKER_FLAGS,
    TINY,
    _checkpoints,
    _epoch_logs,
    _python,
    write_images,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("train_images"))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_two_workers(args: list[str]) -> list[str]:
    """Both workers of a 2-worker cluster on free localhost ports; their outputs, after both
    exited 0."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = [_python(args, {"TF_CONFIG": json.dumps({"cluster": cluster,
                                                     "task": {"type": "worker", "index": i}})})
             for i in range(2)]
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        outputs.append(out + err)
    for i, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"worker {i}:\n{output[-4000:]}"
    return outputs


def test_two_workers_share_one_workdir(images, tmp_path):
    workdir = str(tmp_path / "run")
    # GAN steps only (the phase that runs every network; a warm-up phase is one more compile
    # per worker), saved after each: a series of two checkpoints. One D scale: a second one is
    # more graph to compile per worker and nothing the workers share differently.
    args = ["train.py", *TINY, f"--workdir={workdir}", f"--config.data.train={images}",
            *MULTI_WORKER_FLAGS, "--config.warmup_steps=0", "--config.checkpoint_every=1",
            "--config.model.discriminator_scales=1"]
    outputs = _run_two_workers([*args, "--config.num_steps=2"])
    assert "worker 0 (chief)" in outputs[0] and "worker 1," in outputs[1]
    assert "2 replica(s)" in outputs[0]
    # Both workers rescale the encoder by the same factor (their weights stay copies).
    inits = [re.findall(r"latent init: std ([\d.]+)", output) for output in outputs]
    assert inits[0] and inits[0] == inits[1], inits

    # One checkpoint series (the chief's: steps 1 and 2), no worker or save temps, one
    # TensorBoard writer.
    assert _checkpoints(workdir) == ["checkpoint", *(f"ckpt-{n}.{ext}" for n in (1, 2) for ext in
                                                     ("data-00000-of-00001", "index"))]
    events = os.listdir(os.path.join(workdir, "tensorboard"))
    assert len(events) == 1, events

    # Logged metrics are means over workers: the bound is the model's, and both workers log
    # the same values although each trained on its own half of every batch.
    bound = 8 * np.log2(5) / 256  # tiny: C = 8, L = 5, stride 16
    logs = [_epoch_logs(output) for output in outputs]
    assert logs[0] and all(log["bpp_bound"] == pytest.approx(bound, abs=1e-4) for log in logs[0])
    for a, b in zip(*logs):
        assert a == pytest.approx(b, rel=1e-3), (a, b)
    scalars = _tensorboard_scalars(os.path.join(workdir, "tensorboard", events[0]))
    assert scalars["train/bpp_bound"] == pytest.approx(bound, abs=1e-6)

    # A preempted job restarted with a longer schedule: both workers resume from the chief's
    # last checkpoint (each says so) and the series goes on from it.
    resumed = _run_two_workers([*args, "--config.num_steps=3"])
    for i, output in enumerate(resumed):
        assert "resumed from" in output and "ckpt-2 at step 2" in output, (
            f"worker {i}:\n{output[-3000:]}")
    assert _checkpoints(workdir)[-2:] == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]


def _tensorboard_scalars(path: str) -> dict[str, float]:
    import tensorflow as tf

    values = {}
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            array = tf.make_ndarray(value.tensor)
            if array.ndim == 0:  # scalars (images are summaries too)
                values[value.tag] = float(array)
    return values
