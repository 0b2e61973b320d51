"""Shared fixtures: tiny models and small images so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import fcntl
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

# Whether the user set TF's log level; remembered for pytest-xdist's workers, which inherit the
# environment of the main process after the line below.
_TF_LOG_LEVEL_IS_OURS = os.environ.setdefault(
    "TFGC_TESTS_TF_LOG_LEVEL_IS_OURS", str(int("TF_CPP_MIN_LOG_LEVEL" not in os.environ))) == "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this process's; its children get none

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test data that does not ship with tfgc (the Kodak images): the one setting that points at it,
# documented in README.md (Development). Tests reach it only through `external_data`.
SHARED_DATA = os.environ.get("TFGC_TEST_DATA") or os.path.join(
    os.path.dirname(REPO_ROOT), "shared", "data")
# TensorFlow's own log, which no command prints unless asked (-v, --verbosity): C++ lines name
# their source file; the rest are the notices and warnings TF and Keras have printed.
TF_LOG = re.compile(r"tensorflow/(core|tsl|compiler)/|Unable to register|TensorRT|oneDNN|"
                    r"remapper failed|WARNING:(absl|tensorflow)|Skipping full serialization|"
                    r"is deprecated and will be removed|ignore_errors")


def external_data(*parts: str) -> str:
    """A path under TFGC_TEST_DATA; skips the calling test, saying what is missing, if absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"{os.path.join(*parts)} not found under TFGC_TEST_DATA={SHARED_DATA} "
                    "(set TFGC_TEST_DATA to the folder holding the external test data)")
    return path


# pytest-xdist (pyproject's addopts: `-n auto --dist loadfile`) gives each worker whole files, in
# this order, so a file's module fixtures are built once. The files that cost the most CPU go
# first, costliest first (CPU seconds of past runs), so that the workers finish together; the
# rest follow in their usual order. A name here that is not a test file is an error: a renamed
# file cannot drop out of the order unnoticed.
RUN_FIRST = ("test_train_cli.py", "test_semantic_codec.py", "test_bulk.py",
             "test_semantic_model.py", "test_readme.py", "test_reversal.py",
             "test_train_cli_multi_worker.py", "test_export.py", "test_warm_start.py",
             "test_evaluation.py", "test_training.py", "test_bundled_model.py")


def pytest_collection_modifyitems(items):
    tests = os.path.dirname(os.path.abspath(__file__))
    missing = [name for name in RUN_FIRST if not os.path.exists(os.path.join(tests, name))]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py RUN_FIRST names no test file: {missing}")

    def rank(item) -> int:
        name = os.path.basename(str(item.path))
        return RUN_FIRST.index(name) if name in RUN_FIRST else len(RUN_FIRST)

    items.sort(key=rank)  # stable: tests keep their order inside a file


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


def with_crc(body: bytes) -> bytes:
    """`body` followed by its CRC-32, as `.tfgc` and `.tfgz` files end: a changed file that
    still passes the CRC check, so a test reaches the check after it."""
    return body + zlib.crc32(body).to_bytes(4, "little")


def fix_crc(data: bytes) -> bytes:
    """A whole file (or a too-short one, unchanged) with its last 4 bytes made its CRC-32."""
    return with_crc(data[:-4]) if len(data) >= 4 else data


def with_field(data: bytes, offset: int, fmt: str, value) -> bytes:
    """A whole file with one header field re-packed (`struct` format `fmt` at `offset`) and
    its CRC made to match: what only the check of that field sees."""
    body = bytearray(data[:-4])
    struct.pack_into(fmt, body, offset, value)
    return with_crc(bytes(body))


def tfgc_here(*args: str) -> tuple[int, str]:
    """`python -m tfgc ARGS` run by its `main` in this process: the exit status and what it
    printed on stderr (a traceback that escaped `main` is printed there too, so tests can
    assert there is none). For variations of a command whose entry point a test has already
    run as a process: it saves a TensorFlow start (~3 CPU-s) each."""
    import contextlib
    import io
    import traceback

    from tfgc.__main__ import main

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code
        except Exception:
            traceback.print_exc()
            code = -1
    return code, stderr.getvalue()


def export_py_here(*args: str) -> tuple[int, str]:
    """`python export.py ARGS` run by its `main` in this process, with its absl flags parsed as
    `app.run` parses them: the exit status and what it printed on stderr, a traceback
    included. As `tfgc_here`: for variations of a command a test has already run as a
    process."""
    return _script_here("export.py", args)


def train_py_here(*args: str) -> tuple[int, str]:
    """`python train.py ARGS` run by its `main` in this process (--config.FIELD overrides
    included), as `export_py_here`; both can run in one process (one pytest worker)."""
    return _script_here("train.py", args)


def _script(script: str):
    """`script` (export.py, train.py) loaded once per process, with the absl flags it defines
    taken out of absl's global FLAGS again and kept as `module.tfgc_tests_flags`: both
    scripts define --workdir, and a second definition in one FlagValues is an error."""
    import importlib.util

    from absl import flags

    name = "tfgc_tests_" + script.replace(".", "_")
    module = sys.modules.get(name)
    if module is None:
        before = set(flags.FLAGS)
        spec = importlib.util.spec_from_file_location(name, os.path.join(REPO_ROOT, script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # defines its flags on absl's global FLAGS
        keys = set(flags.FLAGS) - before  # names and short names
        defined = {flags.FLAGS[key].name: flags.FLAGS[key] for key in keys}
        for key in keys:
            delattr(flags.FLAGS, key)
        module.tfgc_tests_flags = list(defined.values())
        sys.modules[name] = module
    return module


def _script_here(script: str, args: tuple[str, ...]) -> tuple[int, str]:
    """Runs `script`'s main on ARGS with its flags in a FlagValues of their own, made for
    this call (the script's `FLAGS` while it runs), and parsed as `app.run` parses them."""
    import contextlib
    import io
    import traceback
    from unittest import mock

    from absl import flags

    module = _script(script)
    own = flags.FlagValues()
    for flag in module.tfgc_tests_flags:
        own[flag.name] = flag
        if hasattr(flag, "flag_values"):  # ml_collections' config flag: its --config.FIELD
            flag.flag_values = own  # overrides become flags of the holder it names
    argv = [script, *args]
    stderr = io.StringIO()
    # ml_collections reads the --config.FIELD overrides from sys.argv, not from its parser's.
    with contextlib.redirect_stderr(stderr), mock.patch.object(module, "FLAGS", own), \
            mock.patch.object(sys, "argv", argv):
        try:
            code = module.main(own(argv))
        except flags.Error as e:  # as app.run reports a bad command line
            print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
            code = 1
        except Exception:
            traceback.print_exc()
            code = -1
        finally:
            own.unparse_flags()
    return code, stderr.getvalue()


def shared_once(tmp_path_factory, name: str, build) -> pathlib.Path:
    """`build(path)` once per test run, even under pytest-xdist: the first worker to get here
    builds into `path` while the others wait on a lock, then all of them use the same `path`
    (read-only). A build that failed is redone by the next worker (and fails there too)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's temp root, shared by its workers
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A tiny model trained for 2 steps: weights that are not the initial ones."""

    def build(path):
        from tfgc.training.trainer import train

        config = tiny_config()
        config.num_steps = config.warmup_steps = 2
        train(config, str(path))

    return str(shared_once(tmp_path_factory, "tiny_run", build))


@pytest.fixture(scope="session")
def codec(workdir):
    from tfgc.codec import load_codec

    return load_codec(workdir)


@pytest.fixture(scope="session")
def vgg19_weights(tmp_path_factory):
    """A Keras VGG19 include_top=False weights file with random weights (tfgc never downloads
    the real ones; the loss only needs the file's layout)."""

    def build(path):
        import tensorflow as tf

        tf.keras.applications.VGG19(include_top=False, weights=None).save_weights(
            str(path / "vgg19_notop.h5"))

    return str(shared_once(tmp_path_factory, "vgg19", build) / "vgg19_notop.h5")


@pytest.fixture(scope="session", autouse=True)
def _environment_of_a_users_shell():
    """Commands a test starts (train.py, export.py, python -m tfgc) see a user's environment.

    `import tensorflow` sets TF2_BEHAVIOR=1 in os.environ, once per process; a child inheriting
    it hid a defect of TF first imported inside absl's app.run (tfgc/utils/absl_app.py) from
    every test while the same commands failed in a shell. Import TF first, then drop it, and
    the TF log level set above for this process: a child's output is then what a user sees.
    """
    import tensorflow  # noqa: F401

    os.environ.pop("TF2_BEHAVIOR", None)
    if _TF_LOG_LEVEL_IS_OURS:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_below_pytests_temp(tmp_path_factory):
    """This process and every command a test starts make their temporary files (TMPDIR) below
    pytest's temp root, which pytest prunes to its last few runs: what a process killed by a
    test cannot remove at exit (TensorFlow's __autograph_generated_file*.py, about 20 per
    killed train.py; Beam's temp folders) no longer piles up in /tmp."""
    import tempfile

    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmp", numbered=False))
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


EXPORT_UMASK = 0o027


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@dataclass(frozen=True)
class ExportRun:
    """The session's one export.py run: its export root and what it printed."""

    root: str
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def export_run(workdir, tmp_path_factory) -> ExportRun:
    """The tiny model exported by export.py (full and stock SavedModels, version 1), run under
    umask 027 into a root a killed export left debris in: a temporary version directory of a
    dead process, an old mkdtemp-named one, and half a pair (tests/test_export.py checks that
    all of it is gone and what export.py said about it)."""

    def build(path):
        out = path / "exports"
        (out / "tfgc" / f".tmp-tfgc-{_dead_pid()}-0a1b2c3d-1").mkdir(parents=True)
        legacy = out / "tfgc_stock" / ".tmp-k3j2h1g0"
        legacy.mkdir(parents=True)
        os.utime(legacy, (0, 0))
        (out / "tfgc_stock" / "1").mkdir()  # its partner tfgc/1 was never renamed into place
        result = subprocess.run(
            [sys.executable, os.path.join(REPO_ROOT, "export.py"), f"--workdir={workdir}",
             f"--export_dir={out}"], capture_output=True, text=True, timeout=900,
            cwd=REPO_ROOT, preexec_fn=lambda: os.umask(EXPORT_UMASK))
        assert result.returncode == 0, result.stderr[-3000:]
        (path / "stdout.txt").write_text(result.stdout)
        (path / "stderr.txt").write_text(result.stderr)

    path = shared_once(tmp_path_factory, "export", build)
    return ExportRun(str(path / "exports"), (path / "stdout.txt").read_text(),
                     (path / "stderr.txt").read_text())


@pytest.fixture(scope="session")
def export_dir(export_run) -> str:
    return export_run.root
