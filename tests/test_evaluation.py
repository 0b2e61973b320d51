"""Evaluation tool: metric sanity values, rate matching, outputs, resume, bad inputs, CLI."""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import struct
import sys
import types

import numpy as np
import pytest
from PIL import Image

from tests.conftest import external_data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synthetic(height: int, width: int, seed: int = 0, noise: float = 4.0) -> np.ndarray:
    """Gradients plus a texture and noise, all inside 64..192 so added noise rarely clips."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width].astype(np.float64)
    base = np.stack([64 + 128 * x / width, 64 + 128 * y / height,
                     128 + 40 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    return np.clip(np.round(base + rng.normal(0, noise, base.shape)), 0, 255).astype(np.uint8)


def pink(height: int, width: int, seed: int = 0) -> np.ndarray:
    """1/f noise in colour: natural-image-like spectra, so NIQE/BRISQUE react as on photos."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=(height, width)) + 1j * rng.normal(size=(height, width))) / f
        channel = np.real(np.fft.ifft2(spectrum))
        channels.append((channel - channel.mean()) / channel.std())
    mix = np.stack(channels, -1) @ np.array([[1, .8, .6], [0, .6, .5], [0, 0, .6]])
    return np.clip(np.round(128 + 40 * mix / mix.std()), 0, 255).astype(np.uint8)


def add_noise(image: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noisy = image + np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return np.stack([ndimage.gaussian_filter(image[..., c].astype(float), sigma)
                     for c in range(3)], -1).round().astype(np.uint8)


class FakeCodec:
    """Stands in for the learned codec: 4x downscale + JPEG, behind an 8-byte header."""

    def __init__(self, name: str = "fake-down4-jpeg", quality: int = 40, scale: int = 4) -> None:
        self.name, self.quality, self.scale = name, quality, scale
        self.compress_calls = 0

    def compress(self, image: np.ndarray) -> bytes:
        self.compress_calls += 1
        height, width = image.shape[:2]
        small = Image.fromarray(image).resize(
            (max(1, width // self.scale), max(1, height // self.scale)), Image.BICUBIC)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=self.quality)
        return b"FK" + struct.pack(">HH", height, width) + b"\0\0" + buffer.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        height, width = struct.unpack(">HH", data[2:6])
        small = Image.open(io.BytesIO(data[8:])).convert("RGB")
        return np.asarray(small.resize((width, height), Image.BICUBIC))

    def header_size(self, data: bytes) -> int:
        return 8


class TinyCodec(FakeCodec):
    """Files of 12 bytes: a rate no classical codec's container fits into."""

    def compress(self, image: np.ndarray) -> bytes:
        self.compress_calls += 1
        height, width = image.shape[:2]
        mean = image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8).tobytes()
        return b"TN" + struct.pack(">HH", height, width) + b"\0\0" + mean + b"\0"

    def decompress(self, data: bytes) -> np.ndarray:
        height, width = struct.unpack(">HH", data[2:6])
        return np.broadcast_to(np.frombuffer(data[8:11], np.uint8), (height, width, 3)).copy()


# ------------------------------------------------------------------- full-reference metrics


def test_identical_images_hit_the_psnr_cap_and_ms_ssim_one():
    from tfgc.evaluation.metrics import PSNR_CAP_DB, ms_ssim, psnr

    image = synthetic(192, 256)
    assert psnr(image, image) == PSNR_CAP_DB == 100.0
    value, scales = ms_ssim(image, image)
    assert scales == 5
    assert value == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_psnr_of_gaussian_noise_matches_the_analytic_value(sigma):
    from tfgc.evaluation.metrics import psnr

    image = synthetic(256, 256, noise=0.0)
    noisy = add_noise(image, sigma)
    assert np.mean((noisy == 0) | (noisy == 255)) == 0  # no clipping
    # rounding to uint8 adds uniform noise of variance 1/12: MSE = sigma^2 + 1/12
    analytic = 10 * math.log10(255 ** 2 / (sigma ** 2 + 1 / 12))
    assert abs(psnr(image, noisy) - analytic) < 0.1
    mse = np.mean((image.astype(np.float64) - noisy) ** 2)
    assert psnr(image, noisy) == pytest.approx(10 * math.log10(255 ** 2 / mse), abs=1e-3)


def test_ms_ssim_matches_tf_at_5_scales_and_falls_with_noise():
    import tensorflow as tf

    from tfgc.evaluation.metrics import ms_ssim

    image = synthetic(192, 256)
    values = [ms_ssim(image, add_noise(image, s))[0] for s in (3, 10, 30)]
    assert values[0] > values[1] > values[2] > 0
    reference = float(tf.image.ssim_multiscale(image.astype(np.float32),
                                               add_noise(image, 10).astype(np.float32), 255.0))
    assert values[1] == pytest.approx(reference, abs=1e-3)


def test_colour_bias_is_the_per_channel_mean_difference():
    from tfgc.evaluation.metrics import colour_bias

    rng = np.random.default_rng(0)
    image = rng.integers(20, 200, (24, 40, 3)).astype(np.uint8)
    shifted = image.astype(np.int16) + np.array([7, 0, -5])
    assert colour_bias(image, shifted.astype(np.uint8)) == pytest.approx([7.0, 0.0, -5.0])
    assert colour_bias(image, image) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("shape", "scales"), [((96, 128), 4), ((40, 60), 2), ((12, 12), 1),
                                               ((8, 9), 1), ((161, 400), 5), ((160, 400), 4)])
def test_ms_ssim_uses_fewer_scales_on_small_images(shape, scales):
    from tfgc.evaluation.metrics import ms_ssim

    image = synthetic(*shape)
    value, used = ms_ssim(image, image)
    assert used == scales
    assert value == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim(image, add_noise(image, 20))[0] < 0.99


# ------------------------------------------------------------------- no-reference metrics

# Scores from the real brisque 0.2.0 wheel (with opencv-python-headless 4.11.0.86) on the
# synthetic images below; our OpenCV-free port must reproduce them.
BRISQUE_WHEEL_SCORES = [
    ((96, 128, "synthetic", 0, 0.0), 24.30802858965805),
    ((96, 128, "synthetic", 0, 20.0), 63.571210902909996),
    ((97, 131, "synthetic", 2, 0.0), 26.868487193900563),
    ((192, 256, "pink", 0, 0.0), 35.049937828030664),
]


@pytest.mark.parametrize(("spec", "expected"), BRISQUE_WHEEL_SCORES)
def test_brisque_reproduces_the_wheel(spec, expected):
    from tfgc.evaluation.brisque_metric import brisque

    height, width, kind, seed, sigma = spec
    image = synthetic(height, width, seed=seed) if kind == "synthetic" else pink(height, width)
    if sigma:
        image = add_noise(image, sigma)
    assert brisque(image) == pytest.approx(expected, abs=1e-6)


def test_downscale_matches_opencv_on_a_ramp():
    from tfgc.evaluation.brisque_metric import downscale_half_bicubic

    ramp = np.tile(np.arange(16, dtype=np.float64), (10, 1))
    half = downscale_half_bicubic(ramp)
    assert half.shape == (5, 8)
    # the cubic reproduces a linear ramp exactly away from the border: samples at 2i + 0.5
    np.testing.assert_allclose(half[:, 1:-1], np.tile(2 * np.arange(1, 7) + 0.5, (5, 1)))


def test_aggd_fit_recovers_known_shapes():
    from tfgc.evaluation.niqe import aggd_fit

    rng = np.random.default_rng(0)
    alpha, beta_l, beta_r = aggd_fit(rng.normal(0, 1, 200_000))
    assert alpha == pytest.approx(2.0, abs=0.05)  # Gaussian
    assert beta_l == pytest.approx(math.sqrt(2), rel=0.02)  # beta = sigma * sqrt(2) at alpha 2
    assert beta_r == pytest.approx(math.sqrt(2), rel=0.02)
    alpha, _, _ = aggd_fit(rng.laplace(0, 1, 200_000))
    assert alpha == pytest.approx(1.0, abs=0.05)
    # an asymmetric Gaussian: right side twice as wide, carrying 2/3 of the mass
    magnitudes = np.abs(rng.normal(0, 1, 300_000))
    right = rng.random(300_000) < 2 / 3
    alpha, beta_l, beta_r = aggd_fit(np.where(right, 2 * magnitudes, -magnitudes))
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert beta_r / beta_l == pytest.approx(2.0, rel=0.02)


def test_imresize_half_is_matlab_bicubic():
    from tfgc.evaluation.niqe import imresize_half

    ramp = np.tile(np.arange(20, dtype=np.float64), (12, 1))
    half = imresize_half(ramp)
    assert half.shape == (6, 10)
    np.testing.assert_allclose(half[:, 2:-2], np.tile(2 * np.arange(2, 8) + 0.5, (6, 1)))
    # the first output mirrors the border: taps at -3..4 read [2, 1, 0, 0, 1, 2, 3, 4] with
    # weights cubic(d / 2) / 2 for d = 3.5 .. 0.5 .. 3.5, which sums to 115/256
    np.testing.assert_allclose(half[:, 0], 115 / 256)
    np.testing.assert_allclose(imresize_half(np.full((9, 7), 42.0)), 42.0)


def test_niqe_and_brisque_rank_distortions_like_a_viewer():
    from tfgc.evaluation.brisque_metric import brisque
    from tfgc.evaluation.niqe import load_model, niqe

    assert "not Kodak" in load_model().info["set"]
    image = pink(384, 384)
    clean, noisy, blurred = niqe(image), niqe(add_noise(image, 25, seed=3)), niqe(blur(image, 2))
    assert clean < noisy < blurred
    assert brisque(image) < brisque(add_noise(image, 25, seed=3))
    with pytest.raises(ValueError):
        niqe(synthetic(64, 96))  # smaller than one 96x96 patch


def test_no_reference_metrics_on_kodak():
    from tfgc.data.images import read_rgb
    from tfgc.evaluation.brisque_metric import brisque
    from tfgc.evaluation.niqe import niqe

    image = read_rgb(external_data("kodak", "kodim01.png"))
    assert brisque(image) == pytest.approx(19.65702237216894, abs=1e-6)  # the wheel's score
    assert 2.0 < niqe(image) < 6.0
    assert niqe(blur(image, 2)) > niqe(image) + 3


# ------------------------------------------------------------------- rate matching

ALL_BASELINES = ("jpeg", "webp", "avif", "heic", "jpeg2000")


@pytest.mark.parametrize("name", ALL_BASELINES)
def test_rate_matching_lands_at_or_under_the_target(name):
    from tfgc.evaluation.codecs import BASELINES
    from tfgc.evaluation.rate_matching import EncodeCache, match_rate

    codec = BASELINES[name]
    image = synthetic(64, 96)
    cache = EncodeCache(codec, image)
    for target in (1.5, 3.0):
        match = match_rate(codec, image, target, cache)
        assert match.reached
        assert match.bpp <= target
        assert len(match.encoded.data) * 8 / (64 * 96) == match.bpp
        assert match.probes >= 1
        if codec.knob == "quality":
            if match.encoded.setting < codec.highest:  # the next setting up is over target
                above = codec.encode(image, match.encoded.setting + 1)
                assert len(above) * 8 / (64 * 96) > target
        else:
            assert match.bpp >= 0.85 * target  # rate control gets close
        decoded = codec.decode(match.encoded.data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        payload = codec.payload_size(match.encoded.data)
        assert payload is not None and 0 < payload < len(match.encoded.data)
    first = match_rate(codec, image, 2.0, EncodeCache(codec, image))
    assert first.encodes == first.probes  # a fresh cache: every probe is an encode


@pytest.mark.parametrize("name", ALL_BASELINES)
def test_rate_matching_reports_an_impossible_target(name):
    from tfgc.evaluation.codecs import BASELINES
    from tfgc.evaluation.rate_matching import match_rate

    codec = BASELINES[name]
    image = synthetic(64, 96)
    match = match_rate(codec, image, 0.01)  # 7 bytes: less than any container
    assert not match.reached
    assert match.bpp > 0.01
    assert match.encoded.setting == codec.lowest
    if codec.knob == "quality":
        assert match.encodes == 1


def test_cached_encodes_are_not_counted_again():
    from tfgc.evaluation.codecs import BASELINES
    from tfgc.evaluation.rate_matching import EncodeCache, match_rate

    codec = BASELINES["jpeg"]
    image = synthetic(64, 96)
    cache = EncodeCache(codec, image)
    first = match_rate(codec, image, 1.5, cache)
    again = match_rate(codec, image, 1.5, cache)
    assert first.encodes > 0 and again.encodes == 0 and again.probes == first.probes
    assert again.encoded is first.encoded


def test_unknown_baseline_is_a_config_error():
    from tfgc.errors import ConfigError
    from tfgc.evaluation.codecs import get_baselines

    assert [c.name for c in get_baselines(["BPG", "jpeg"])] == ["heic", "jpeg"]
    with pytest.raises(ConfigError, match="unknown baseline"):
        get_baselines(["gif"])


def test_container_parsers_reject_garbage():
    from tfgc.evaluation import containers

    for parse in (containers.jpeg_payload, containers.webp_payload,
                  containers.isobmff_payload, containers.j2k_payload):
        assert parse(b"definitely not an image") is None


# ------------------------------------------------------------------- evaluation runs


def write_images(folder, broken: bool = True) -> list[str]:
    """Landscape, portrait and odd-sized images, plus an unreadable file."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, (height, width), seed in (("a_landscape.png", (96, 128), 0),
                                        ("b_portrait.png", (128, 96), 1),
                                        ("c_odd.jpg", (97, 131), 2)):
        path = os.path.join(folder, name)
        Image.fromarray(synthetic(height, width, seed=seed)).save(path, quality=95)
        paths.append(path)
    if broken:
        with open(os.path.join(folder, "d_broken.png"), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n truncated")
    return paths


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    from tfgc.evaluation import evaluate

    root = tmp_path_factory.mktemp("evaluation")
    write_images(root / "images")
    codec = FakeCodec()
    results = evaluate(codec, str(root / "images"), root / "out", baselines=ALL_BASELINES,
                       bpp_factors=(1, 2), crops=1, progress=False)
    return root, codec, results


def test_run_writes_all_four_outputs_with_the_promised_fields(full_run):
    root, _, results = full_run
    out = root / "out"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == results
    run = on_disk["run"]
    assert run["model"] == "fake-down4-jpeg"
    assert run["bpp_factors"] == [1.0, 2.0]
    assert run["baselines"] == list(ALL_BASELINES)
    assert {"pillow", "libwebp", "libavif", "openjpeg", "pillow-heif", "x265"} <= set(
        run["codec_versions"])
    assert any("BPG" in note for note in run["notes"])
    assert run["metrics"]["niqe"] == "lower is better" == run["metrics"]["brisque"]
    assert [i["image"]["name"] for i in on_disk["images"]] == [
        "a_landscape.png", "b_portrait.png", "c_odd.jpg"]
    for record in on_disk["images"]:
        height, width = record["image"]["height"], record["image"]["width"]
        model = record["model"]
        assert model["header_bytes"] == 8
        assert model["bpp"] == pytest.approx(model["bytes"] * 8 / (height * width))
        assert model["payload_bytes"] == model["bytes"] - 8
        assert model["encode_s"] > 0 and model["decode_s"] > 0
        assert {"psnr", "ms_ssim", "ms_ssim_scales", "niqe", "brisque"} <= set(model["metrics"])
        assert 10 < model["metrics"]["psnr"] < 60
        assert len(model["metrics"]["colour_bias"]) == 3
        assert set(record["original"]) == {"niqe", "brisque"}
        for name in ALL_BASELINES:
            for key, factor in (("1", 1.0), ("2", 2.0)):
                entry = record["baselines"][name][key]
                assert "error" not in entry, entry
                assert entry["target_bpp"] == pytest.approx(factor * model["bpp"])
                assert entry["bpp"] == pytest.approx(entry["bytes"] * 8 / (height * width))
                if entry["reached"]:
                    assert entry["bpp"] <= entry["target_bpp"]
                else:
                    assert entry["bpp"] > entry["target_bpp"]
                for field in ("setting", "encodes", "probes", "payload_bpp", "encode_s",
                              "decode_s"):
                    assert entry[field] is not None
                assert {"psnr", "ms_ssim", "niqe", "brisque"} <= set(entry["metrics"])
    assert [s["image"] for s in on_disk["skipped"]] == ["d_broken.png"]
    assert "d_broken.png" in on_disk["skipped"][0]["error"]
    # Paths below the input folder, led by its name: published results name no local folders.
    assert [i["image"]["path"] for i in on_disk["images"]] == [
        "images/a_landscape.png", "images/b_portrait.png", "images/c_odd.jpg"]
    assert on_disk["skipped"][0]["path"] == "images/d_broken.png"
    assert str(root) not in (out / "results.json").read_text()

    rows = {(r["codec"], r["factor"]): r for r in on_disk["summary"]["rows"]}
    assert rows[("ours", None)]["images"] == 3
    assert rows[("heic", 1.0)]["not_reached"] == sum(
        not i["baselines"]["heic"]["1"]["reached"] for i in on_disk["images"])

    markdown = (out / "results.md").read_text()
    for text in ("| codec | factor | bpp | payload bpp | PSNR dB ↑ | MS-SSIM ↑ | NIQE ↓ | "
                 "BRISQUE ↓ | encode s | decode s | not reached |", "**ours** (fake-down4-jpeg)",
                 "HEIC (BPG stand-in)", "stands in for BPG", "lower is better", "d_broken.png",
                 "JPEG 2000"):
        assert text in markdown
    with Image.open(out / "rd.png") as plot:
        assert plot.format == "PNG" and plot.width > 1000
    assert on_disk["crops"] == [f"crops/{on_disk['images'][0]['image']['key']}.png"]
    with Image.open(out / on_disk["crops"][0]) as sheet:
        assert sheet.width >= 7 * 96 and sheet.height >= 2 * 96  # 7 columns, 2 factor rows
    assert len(list((out / "per_image").glob("*.json"))) == 3
    assert not list(out.rglob(".tmp-*"))  # atomic writes leave nothing behind


def test_rd_plot_title_fits_its_figure_and_names_only_what_it_shows():
    from tfgc.evaluation.plots import rd_plot_title

    def results(model: str, rows: list[dict]) -> dict:
        return {"run": {"model": model, "images": 24}, "summary": {"rows": rows}}

    ours = {"codec": "ours", "factor": None}
    alone = rd_plot_title(results("tfgc bundled e6840b1f+optimize10", [ours]), 8.6)
    assert alone == "tfgc bundled e6840b1f+optimize10, mean over 24 images"
    long_name = "tfgc " + "x" * 40 + "+optimize10"
    title = rd_plot_title(results(long_name, [ours, {"codec": "heic", "factor": 1.0,
                                                     "not_reached": 2}]), 8.6)
    assert "vs classical codecs" in title and "hollow" in title
    assert len(title.splitlines()) == 2 and max(map(len, title.splitlines())) <= 94


def test_rerun_skips_done_images_and_computes_only_what_is_new(full_run, tmp_path):
    from tfgc.evaluation import evaluate

    root, _, first = full_run
    out = tmp_path / "out"  # a copy, so the module fixture stays as it was
    import shutil

    shutil.copytree(root / "out", out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "per_image").glob("*.json")}
    codec = FakeCodec()
    again = evaluate(codec, str(root / "images"), out, baselines=ALL_BASELINES,
                     bpp_factors=(1, 2), crops=1, progress=False)
    assert codec.compress_calls == 0
    assert again["run"]["reused"] == 3 and again["run"]["evaluated"] == 0
    assert again["images"] == first["images"]
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "per_image").glob("*.json")}

    # A reused record is named as this run gives the image (older runs recorded full paths).
    record_file = next((out / "per_image").glob("a_landscape*.json"))
    record = json.loads(record_file.read_text())
    record["image"]["path"] = str(root / "images" / "a_landscape.png")
    record_file.write_text(json.dumps(record))
    more = evaluate(codec, str(root / "images"), out, baselines=["jpeg"], bpp_factors=(1, 2, 3),
                    crops=0, progress=False)
    assert codec.compress_calls == 0  # the model's result is reused; only jpeg at 3x is new
    assert more["run"]["evaluated"] == 3
    assert more["images"][0]["image"]["path"] == "images/a_landscape.png"
    for record, old in zip(more["images"], first["images"]):
        assert record["baselines"]["jpeg"]["1"] == old["baselines"]["jpeg"]["1"]
        assert record["baselines"]["jpeg"]["3"]["target_bpp"] == pytest.approx(
            3 * old["model"]["bpp"])


def test_a_changed_image_is_evaluated_again(tmp_path):
    from tfgc.evaluation import evaluate

    paths = write_images(tmp_path / "images", broken=False)
    codec = FakeCodec()
    kwargs = dict(baselines=["jpeg"], bpp_factors=(1,), nr_metrics=(), crops=0, progress=False)
    evaluate(codec, str(tmp_path / "images"), tmp_path / "out", **kwargs)
    assert codec.compress_calls == 3 + 1  # one untimed warm-up
    Image.fromarray(synthetic(96, 128, seed=9)).save(paths[0])
    results = evaluate(codec, str(tmp_path / "images"), tmp_path / "out", **kwargs)
    assert results["run"]["evaluated"] == 1 and results["run"]["reused"] == 2


def test_impossible_targets_are_flagged_in_a_run(tmp_path):
    from tfgc.evaluation import evaluate

    images = [("flat", synthetic(64, 96)), ("other", synthetic(96, 64, seed=3))]
    results = evaluate(TinyCodec("tiny"), images, None, baselines=["jpeg", "jpeg2000"],
                       bpp_factors=(1,), nr_metrics=(), progress=False)
    rows = {(r["codec"], r["factor"]): r for r in results["summary"]["rows"]}
    assert rows[("jpeg", 1.0)]["not_reached"] == 2
    assert rows[("jpeg2000", 1.0)]["not_reached"] == 2
    for record in results["images"]:
        assert record["model"]["bytes"] == 12
        assert record["baselines"]["jpeg"]["1"]["setting"] == 1
        assert record["baselines"]["jpeg"]["1"]["encodes"] == 1
    assert not list(tmp_path.iterdir())  # out_dir=None writes nothing


def test_no_readable_images_and_model_failures_are_reported(tmp_path):
    from tfgc.errors import DataError
    from tfgc.evaluation import evaluate

    with pytest.raises(DataError, match="no images found"):
        evaluate(FakeCodec(), str(tmp_path / "nothing-here"), None, progress=False)

    class Failing(FakeCodec):
        def compress(self, image):
            if image.shape[0] < 80:
                raise ValueError("image too small for this model")
            return super().compress(image)

    images = [("small", synthetic(64, 64)), ("fine", synthetic(96, 128))]
    results = evaluate(Failing(), images, None, baselines=["jpeg"], bpp_factors=(1,),
                       nr_metrics=(), progress=False)
    assert [r["image"]["name"] for r in results["images"]] == ["fine"]
    assert results["skipped"][0]["image"] == "small"
    assert "too small" in results["skipped"][0]["error"]


# ------------------------------------------------------------------- CLI


def make_parser() -> argparse.ArgumentParser:
    from tfgc.evaluation.cli import register

    parser = argparse.ArgumentParser(prog="tfgc")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_flags_parse_and_reject_bad_values(capsys):
    parser = make_parser()
    args = parser.parse_args(["evaluate", "--model", "m", "--images", "d", "--out", "o",
                              "--baselines", "jpeg,webp,avif,heic,jpeg2000",
                              "--bpp-factors", "1,2"])
    assert args.baselines == list(ALL_BASELINES) and args.bpp_factors == [1.0, 2.0]
    assert args.model == "m" and args.crops == 3 and args.limit is None
    defaults = parser.parse_args(["evaluate", "--images", "d", "--out", "o"])
    assert defaults.model is None and defaults.baselines == list(ALL_BASELINES)
    assert parser.parse_args(["evaluate", "--images", "d", "--out", "o",
                              "--nr-metrics", "none"]).nr_metrics == []
    for bad in (["--baselines", "gif"], ["--bpp-factors", "0"], ["--bpp-factors", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["evaluate", "--images", "d", "--out", "o", *bad])
        assert exit_info.value.code == 2
    assert "choose from" in capsys.readouterr().err


def test_cli_runs_with_the_loaded_codec(tmp_path, monkeypatch, capsys):
    from tfgc.evaluation.cli import run

    write_images(tmp_path / "images")
    loaded = []

    def load_codec(path):
        loaded.append(path)
        return FakeCodec()

    monkeypatch.setitem(sys.modules, "tfgc.codec", types.SimpleNamespace(load_codec=load_codec))
    parser = make_parser()
    args = parser.parse_args(["evaluate", "--images", str(tmp_path / "images" / "*.png"),
                              "--out", str(tmp_path / "out"), "--baselines", "jpeg",
                              "--bpp-factors", "1", "--nr-metrics", "brisque", "--crops", "0",
                              "--quiet"])
    assert args.run(args) == 0
    assert loaded == [None]  # no --model: the bundled default
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["image"]["name"] for r in results["images"]] == ["a_landscape.png",
                                                               "b_portrait.png"]
    assert [r["image"]["path"] for r in results["images"]] == ["images/a_landscape.png",
                                                               "images/b_portrait.png"]
    assert str(tmp_path) not in (tmp_path / "out" / "results.json").read_text()
    assert "skipped d_broken.png" in capsys.readouterr().err
    missing = parser.parse_args(["evaluate", "--images", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "out2"), "--quiet"])
    assert run(missing) == 2
    assert "no images found" in capsys.readouterr().err


def test_evaluate_kodak_sh_finds_or_refuses_its_interpreter(tmp_path):
    """bench/evaluate_kodak.sh as documented (DRY_RUN=1: it prints the evaluate command and
    stops). Without PYTHON it picks an interpreter that has requirements.txt installed (this
    checkout's .venv, a git worktree's main checkout's, or python3); one without them (here
    `python -S`: no site-packages) is refused in one line naming it, what it lacks and
    PYTHON=, instead of failing inside evaluate."""
    import hashlib
    import re
    import subprocess

    from tests.conftest import REPO_ROOT

    kodak = tmp_path / "kodak"
    kodak.mkdir()
    (kodak / "kodim01.png").write_bytes(b"x")
    (kodak / "SHA256SUMS").write_text(f"{hashlib.sha256(b'x').hexdigest()}  kodim01.png\n")
    script = os.path.join(REPO_ROOT, "bench", "evaluate_kodak.sh")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env.update(DRY_RUN="1", PATH=os.path.dirname(sys.executable) + os.pathsep + env["PATH"])

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", script, str(kodak), *args], env=dict(env, **extra),
                              capture_output=True, text=True, timeout=120)

    found = run("--limit", "1")
    assert found.returncode == 0, found.stderr
    assert re.fullmatch(r"\+ \S+ -m tfgc evaluate --images \S+ --out \S+ .* --limit 1\n",
                        found.stderr), found.stderr
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    refused = run(PYTHON=str(bare))
    lines = refused.stderr.splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert str(bare) in lines[0] and "tensorflow" in lines[0] and "PYTHON=" in lines[0]
    refused = run(PYTHON=str(tmp_path / "no-such-python"))
    assert refused.returncode == 2 and "cannot run the interpreter" in refused.stderr
