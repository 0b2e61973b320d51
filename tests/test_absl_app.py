"""train.py and export.py under absl's app.run: TensorFlow's eager context stays intact.

TF first imported inside `app.run`'s main leaves the eager context half set up
(tfgc/utils/absl_app.py has the cause and a 5-line reproduction): traced `a == b` became Python
identity (export.py's SavedModels refused files with in-file context tables; the export test of
that lives in tests/test_export.py, whose export is now made under app.run) and Keras' functional
API broke (the VGG loss could not be built from train.py; train.py's VGG run is one of the
option matrix's runs in tests/test_train_cli.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

TINY_FLAGS = ["--config=configs/tiny.py", "--config.model.width_multiplier=0.0625",
              "--config.model.num_residual_blocks=1", "--config.data.crop_size=64",
              "--config.data.eval_crop_size=64", "--config.data.num_eval_images=2",
              "--config.batch_size=2", "--config.num_steps=2", "--config.warmup_steps=1"]

# TF imported for the first time inside a plain absl app.run: the defect's conditions.
_DEGRADED = """
import sys
from absl import app

def main(_):
    import numpy as np
    import tensorflow as tf

    from tfgc import coding
    from tfgc.coding.synthetic import correlated_symbols
    from tfgc.errors import TensorFlowStateError
    from tfgc.losses.perceptual import VGGLoss
    from tfgc.utils import absl_app

    same = bool(tf.function(lambda a, b: a == b)(tf.constant(1), tf.constant(1)))
    assert not same, "TF no longer has the defect: tfgc/utils/absl_app.py's guard can go"
    assert not absl_app.eager_context_is_intact()
    try:
        VGGLoss(sys.argv[0])  # an existing file: the state is checked before it is read
    except TensorFlowStateError as e:
        print("VGG:", e)
    symbols = correlated_symbols(3, 5, 4, 5)
    data = coding.encode_symbols(symbols, num_centers=5, image_shape=(48, 80),
                                 fingerprint=bytes(16), entropy_models=[1])  # tables in the file
    header = coding.parse_header(bytes(data.numpy()))
    assert header.structure == 1 and not header.model_tables and header.tables_size > 0
    decoded, _ = coding.decode_symbols(data, fingerprint=bytes(16))
    np.testing.assert_array_equal(decoded, symbols)
    print("DECODED")

app.run(main)
"""

_GUARDED = """
from tfgc.utils import absl_app

def main(_):
    import tensorflow as tf

    print("EQUAL", bool(tf.function(lambda a, b: a == b)(tf.constant(1), tf.constant(1))))
    inputs = tf.keras.Input((8, 8, 3))
    tf.keras.Model(inputs, tf.keras.layers.Conv2D(2, 3)(inputs))  # what VGG19 failed at
    print("FUNCTIONAL", type(inputs).__name__)

absl_app.run(main)
"""


def _python(tmp_path, code: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": REPO_ROOT})


def test_broken_eager_context_is_refused_and_coding_does_not_depend_on_it(tmp_path):
    result = _python(tmp_path, _DEGRADED)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "VGG: TensorFlow was first imported inside absl's app.run" in result.stdout
    assert "DECODED" in result.stdout


def test_absl_app_run_keeps_the_eager_context(tmp_path):
    result = _python(tmp_path, _GUARDED)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EQUAL True" in result.stdout
    assert "FUNCTIONAL KerasTensor" in result.stdout


def _train(workdir, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train.py"), f"--workdir={workdir}",
         *TINY_FLAGS, *flags], capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)


def test_train_py_vgg_without_its_file_is_one_clear_error(tmp_path):
    missing = tmp_path / "vgg19_notop.h5"
    result = _train(tmp_path / "run", "--config.lambda_vgg=10",
                    f"--config.vgg_weights_path={missing}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: VGG19 weights file not found: {missing}" in result.stderr


def test_train_py_and_export_py_run_in_one_process_with_their_own_flags():
    """The in-process helpers (tests/conftest.py) keep each script's absl flags apart: both
    define --workdir, and both run in one pytest worker, each as often as a test likes, with
    its own --config.FIELD overrides, leaving absl's global FLAGS as they were. No training:
    the overrides are refused before any (batch_size 0; the tiny config has 4)."""
    from absl import flags

    from tests.conftest import export_py_here, train_py_here

    tiny = os.path.join(REPO_ROOT, "configs", "tiny.py")
    global_flags = set(flags.FLAGS)
    for _ in range(2):
        code, stderr = export_py_here("--export_dir=unused")
        assert code == 1 and "error: pass exactly one of --workdir" in stderr, stderr
        code, stderr = train_py_here("--workdir=unused", f"--config={tiny}",
                                     "--config.batch_size=0")
        assert code == 1 and "error: " in stderr and "batch_size" in stderr, stderr
        assert "Traceback" not in stderr
    code, stderr = train_py_here(f"--config={tiny}")
    assert code == 1 and "FATAL Flags parsing error" in stderr and "--workdir" in stderr, stderr
    assert set(flags.FLAGS) == global_flags and "workdir" not in flags.FLAGS
