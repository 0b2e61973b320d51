"""Encoder-side latent optimisation: the search keeps its best iterate, optimised files are
ordinary files for every decoder of the model, and the commands take --optimize."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, photo, tfgc_here
from tfgc.errors import ConfigError, TfgcError


def test_search_returns_the_best_iterate_even_when_it_diverges():
    import tensorflow as tf

    from tfgc.latent_search import LatentSearch, SearchSettings

    def objective(x):  # two items; each minimum at 0, overshooting at learning rate 3
        loss = tf.reduce_sum(tf.square(x), axis=1) + tf.reduce_sum(tf.abs(x), axis=1)
        return loss, tf.round(x)

    search = LatentSearch(objective)
    start = np.array([[0.4, -0.3], [2.0, 1.0]], np.float32)
    result = search.run(start, settings=SearchSettings(8, learning_rate=3.0, schedule="constant"))
    assert result.history.shape == (9, 2)
    np.testing.assert_allclose(result.loss, result.history.min(axis=0))
    assert (result.loss <= result.initial_loss).all()
    assert result.history[-1, 0] > result.loss[0]  # it did wander off: keeping the best mattered
    np.testing.assert_array_equal(result.payload, np.round(result.latent))


def test_search_stops_early_when_nothing_improves():
    import tensorflow as tf

    from tfgc.latent_search import LatentSearch, SearchSettings

    search = LatentSearch(lambda x: (tf.reduce_sum(x * 0.0, axis=1), x))
    result = search.run(np.ones([1, 3], np.float32), settings=SearchSettings(50, patience=3))
    assert result.steps == 4
    # Improving, but by less than the tolerance (0.1% of the best) per step: also a stall.
    slow = LatentSearch(lambda x: (1.0 + 1e-3 * tf.reduce_sum(x, axis=1), x))
    settings = SearchSettings(50, 1e-3, schedule="constant", patience=3)
    assert slow.run(np.ones([1, 3], np.float32), settings=settings).steps == 50
    tolerant = SearchSettings(50, 1e-3, schedule="constant", patience=3, tolerance=1e-3)
    assert slow.run(np.ones([1, 3], np.float32), settings=tolerant).steps == 4
    assert slow._step.experimental_get_tracing_count() == 1  # steps and rates never retrace


def test_loss_specs():
    from tfgc.latent_search import parse_loss

    assert parse_loss("mse+0.05*ms_ssim") == {"mse": 1.0, "ms_ssim": 0.05}
    assert parse_loss("ssim+l1+2*l1") == {"ssim": 1.0, "l1": 3.0}
    for bad in ("psnr", "mse+", "-1*mse", "0*mse", "mse+0.2*bpp"):
        with pytest.raises(ConfigError):
            parse_loss(bad)
    assert parse_loss("mse+0.2*bpp", extra_terms=("bpp",))["bpp"] == 0.2


def test_optimisation_never_increases_the_chosen_loss(codec):
    from tfgc.latent_search.gc import SymbolOptimizer

    image = photo(40, 56, seed=5)
    optimizer = SymbolOptimizer(codec.networks, "mse+l1+ssim+0.05*ms_ssim+0.5*bpp",
                                model_tables=codec.model_tables)
    symbols, result = optimizer.optimize(image, 4)
    assert result.loss[0] <= result.initial_loss[0]
    assert result.loss[0] == result.history.min()
    plain = codec.networks.quantizer.symbols(optimizer.initial_latents(image))[0].numpy()
    assert symbols.shape == plain.shape and symbols.dtype == np.int32
    if result.loss[0] < result.initial_loss[0]:
        assert (symbols != plain).any()


def test_optimised_file_is_an_ordinary_file(codec):
    from tfgc import coding

    image = photo(33, 47, seed=6)
    step = codec.symbol_optimizer()._search._step
    traced = step.experimental_get_tracing_count()
    data = codec.compress(image, optimize_steps=3)
    symbols, _ = coding.decode_symbols(data, fingerprint=codec.fingerprint,
                                       model_tables=codec.model_tables)
    expected, _ = codec.symbol_optimizer().optimize(image, 3)
    np.testing.assert_array_equal(symbols.numpy(), expected)  # also: the search is repeatable
    codec.compress(photo(33, 47, seed=7), optimize_steps=2)
    # One compiled step served every step, both images and the final scoring: no retracing.
    assert step.experimental_get_tracing_count() <= traced + 1
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape
    # The optimised symbols get their own colour offset (the tiny model's colours are far
    # off): the decoded mean is within a level of the original's.
    from tfgc.evaluation.metrics import colour_bias

    assert any(coding.parse_header(data).colour_offset)
    assert max(map(abs, colour_bias(image, decoded))) < 1, colour_bias(image, decoded)
    with pytest.raises(TfgcError, match="optimize_steps"):
        codec.compress(image, optimize_steps=-1)
    with pytest.raises(ConfigError, match="unknown loss"):
        codec.compress(image, optimize_steps=1, optimize_loss="psnr")


_DECODE_WITH_BOTH = """
import hashlib, sys, numpy as np, tensorflow as tf, tensorflow_compression
data = open(sys.argv[1], 'rb').read()
for path in sys.argv[2:]:
    out = tf.saved_model.load(path).signatures['decompress'](bitstring=tf.constant([data]))
    print(hashlib.sha256(out['image'][0].numpy().tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_optimised_files_from_a_saved_model_decode_through_both_exports(export_dir, tmp_path):
    from tfgc import coding
    from tfgc.codec import load_codec

    full = os.path.join(export_dir, "tfgc", "1")
    codec = load_codec(full)  # differentiable E and G rebuilt from the SavedModel
    image = photo(40, 56, seed=7)
    plain, optimised = codec.compress(image), codec.compress(image, optimize_steps=3)
    # The rebuilt networks are the exported ones: they start from the export's own symbols.
    start, _ = codec.symbol_optimizer().optimize(image, 0)
    np.testing.assert_array_equal(start, coding.decode_symbols(
        plain, fingerprint=codec.fingerprint, model_tables=codec.model_tables)[0].numpy())
    path = tmp_path / "optimised.tfgc"
    path.write_bytes(optimised)
    result = subprocess.run(
        [sys.executable, "-c", _DECODE_WITH_BOTH, str(path), full,
         os.path.join(export_dir, "tfgc_stock", "1")],
        capture_output=True, text=True, timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    expected = hashlib.sha256(codec.decompress(optimised).tobytes()).hexdigest()
    assert result.stdout.split() == [expected, expected]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO_ROOT)


@pytest.mark.slow
def test_cli_compress_and_evaluate_optimize(workdir, tmp_path):
    from tfgc.latent_search.gc import DEFAULT_LOSS

    Image.fromarray(photo(32, 48, seed=8)).save(tmp_path / "a.png")
    # `--optimize` right before the image: the default steps, and the image stays an input
    result = _cli("compress", "--optimize", str(tmp_path / "a.png"), "-o",
                  str(tmp_path / "a.tfgc"), "--model", workdir, "--optimize-loss", "l1+0.1*bpp")
    assert result.returncode == 0, result.stderr[-2000:]
    # The file decodes with `decompress` (its `main` in this process: tests/test_codec.py runs
    # the command as a process; this saves a TensorFlow start).
    from tfgc.__main__ import main

    assert main(["decompress", str(tmp_path / "a.tfgc"), "-o", str(tmp_path / "a.png.png"),
                 "--model", workdir]) == 0
    assert Image.open(tmp_path / "a.png.png").size == (48, 32)

    result = _cli("compress", str(tmp_path / "a.png"), "-o", str(tmp_path), "--optimize", "-3")
    assert result.returncode == 2 and "0 or more" in result.stderr
    assert DEFAULT_LOSS in " ".join(_cli("compress", "--help").stdout.split())

    result = _cli("evaluate", "--model", workdir, "--optimize", "2", "--images",
                  str(tmp_path / "a.png"), "--out", str(tmp_path / "eval"), "--baselines", "jpeg",
                  "--nr-metrics", "none", "--crops", "0", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    results = (tmp_path / "eval" / "results.md").read_text()
    assert "+optimize2" in results


def test_optimize_without_a_number_uses_the_measured_default():
    from tfgc.__main__ import build_parser
    from tfgc.latent_search.settings import DEFAULT_STEPS

    parser = build_parser()
    parse = parser.parse_args
    assert parse(["compress", "a.png", "-o", "o", "--optimize"]).optimize == DEFAULT_STEPS
    assert parse(["compress", "a.png", "-o", "o", "--optimize", "3"]).optimize == 3
    assert parse(["compress", "a.png", "-o", "o"]).optimize == 0
    assert parse(["evaluate", "--images", "i", "--out", "o", "--optimize"]).optimize == \
        DEFAULT_STEPS
    # Followed by something other than a whole number, the flag takes no value (#11's contract
    # `compress --optimize IMG -o OUT`): the word stays an input.
    for argv in (["compress", "--optimize", "a.png", "-o", "o"],
                 ["compress", "--optimize", "a.png", "7", "-o", "o"]):
        args = parse(argv)
        assert args.optimize == DEFAULT_STEPS and args.inputs == argv[2:-2]
    assert parse(["compress", "--optimize", "4", "a.png", "-o", "o"]).inputs == ["a.png"]
    assert parse(["compress", "--optimize=0", "a.png", "-o", "o"]).optimize == 0
    assert parse(["evaluate", "--optimize", "--images", "i", "--out", "o"]).optimize == \
        DEFAULT_STEPS
    with pytest.raises(SystemExit):  # evaluate takes no positional: a clear usage error
        parse(["evaluate", "--optimize", "ten", "--images", "i", "--out", "o"])


# Refusals of `python -m tfgc compress`, run by its `main` in this process (the command runs as
# a process above, `--optimize IMG` included): each process would start TensorFlow (~3 CPU-s).
def test_cli_compress_optimize_before_the_image(tmp_path):
    """`--optimize IMG` no longer reads IMG as STEPS (it stops at the model here, after the
    arguments were accepted)."""
    Image.fromarray(photo(16, 16)).save(tmp_path / "a.png")
    code, stderr = tfgc_here("compress", "--optimize", str(tmp_path / "a.png"), "-o",
                             str(tmp_path), "--model", str(tmp_path / "no-model"))
    assert code == 1 and "no-model" in stderr, stderr
    assert "whole number" not in stderr and "Traceback" not in stderr


def test_cli_refuses_a_bad_loss_before_loading_the_model(tmp_path):
    Image.fromarray(photo(16, 16)).save(tmp_path / "a.png")
    code, stderr = tfgc_here("compress", str(tmp_path / "a.png"), "-o", str(tmp_path),
                             "--model", str(tmp_path / "no-model"), "--optimize", "2",
                             "--optimize-loss", "psnr")
    assert code == 1 and "unknown loss" in stderr
    assert "Traceback" not in stderr
