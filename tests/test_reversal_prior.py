"""GAN reversal through a code prior and a GC model's G (issue 11): whole images of any size as
a grid of prior tiles, version-2 `.tfgz` files naming both the prior and the GC model, the
`reverse --prior` and `decompress --prior` commands, the prior + G SavedModel (`export.py
--prior`), and their errors.

The prior is untrained (random weights): these tests are about shapes, files and errors; what
a trained prior gives is measured by bench/reversal_table1.py --whole."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import (
    REPO_ROOT,
    TF_LOG,
    export_py_here,
    photo,
    tfgc_here,
    with_crc,
    with_field,
)
from tfgc.errors import (
    BitstreamError,
    ModelLoadError,
    ModelMismatchError,
    ResourceLimitError,
    TfgcError,
)

# Codes of 2x2 latents: 32x32-pixel tiles at the tiny model's stride 16, z of 4 per tile.
CODE_SIDE, LATENT_DIM = 2, 4


def _prior(codec, seed: int):
    import tensorflow as tf

    from tfgc.networks.code_prior import CodePriorGenerator

    tf.keras.utils.set_random_seed(seed)
    networks = codec.networks
    prior = CodePriorGenerator((CODE_SIDE, CODE_SIDE, networks.num_channels),
                               networks.quantizer.centers_list, LATENT_DIM, width=8,
                               num_upsamplings=1)
    prior(tf.zeros([1, LATENT_DIM]))
    return prior


@pytest.fixture(scope="module")
def prior_dirs(codec, workdir, tmp_path_factory):
    """Two saved priors over the tiny model's codes: the one files are made with, another."""
    from tfgc.prior import save_prior

    root = tmp_path_factory.mktemp("priors")
    for name, seed in (("prior", 0), ("other", 1)):
        save_prior(_prior(codec, seed), str(root / name), {
            "num_upsamplings": 1, "width": 8, "model_fingerprint": codec.fingerprint.hex()})
    return root / "prior", root / "other"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True,
                          text=True, timeout=600, cwd=REPO_ROOT)


def test_tiles_cover_any_image_size_and_g_decodes_them_together(codec, workdir, prior_dirs):
    import tensorflow as tf

    from tfgc.reversal import compress_reversal
    from tfgc.reversal.generators import load_prior_generator

    tiled = load_prior_generator(str(prior_dirs[0]), workdir)
    assert tiled.tile_shape == (32, 32)
    generator = tiled.at((40, 72))  # 2 x 3 tiles, the last row and column cropped
    assert generator.latent_shape == (2, 3, LATENT_DIM)
    assert tiled.latent_size((40, 72)) == generator.latent_size == 24
    assert tiled.at((40, 72)) is generator and tiled.at((32, 32)).latent_shape == (1, 1, 4)
    z = generator.sample_latents(1, 3)
    image = generator(z)
    assert image.shape == (1, 40, 72, 3)
    # The tiles' codes are the prior's, side by side, and G decodes them as one code.
    codes = [tiled.prior(z[0, r, c][tf.newaxis]) for r in range(2) for c in range(3)]
    rows = [tf.concat(codes[3 * r:3 * r + 3], axis=2) for r in range(2)]
    symbols = codec.networks.quantizer.symbols(tf.concat(rows, axis=1)[:, :3, :5])
    whole = codec.networks.synthesis(symbols)[:, :40, :72]
    np.testing.assert_allclose(image.numpy(), whole.numpy(), atol=1e-5)
    # What a decoder shows (G in row tiles) is that picture, in uint8.
    picture = generator.picture(z.numpy())
    assert picture.shape == (40, 72, 3) and picture.dtype == np.uint8
    assert np.abs(picture.astype(int) - np.round(whole[0].numpy() * 255)).max() <= 1
    with pytest.raises(ResourceLimitError, match="too big to reverse"):
        compress_reversal(tiled, np.zeros((2049, 2049, 3), np.uint8))


def test_version_2_files_name_the_prior_and_the_model(codec, workdir, prior_dirs):
    from tfgc import assets
    from tfgc.reversal import (
        PriorTiledGenerator,
        ReversalSettings,
        compress_reversal,
        decompress_reversal,
        load_generator,
        load_prior_generator,
    )
    from tfgc.reversal.fileformat import PRIOR_VERSION, decode_file, parse_header

    tiled = load_prior_generator(str(prior_dirs[0]), workdir)
    data, result = compress_reversal(tiled, photo(40, 72, 1), ReversalSettings(
        steps=4, restarts=2, prune_after=2, finetune_steps=2))
    header = parse_header(data)
    assert header.version == PRIOR_VERSION
    assert header.fingerprint == tiled.fingerprint
    assert header.model_fingerprint == codec.fingerprint
    assert (header.image_height, header.image_width, header.latent_size) == (40, 72, 24)
    code, _ = decode_file(data, fingerprint=tiled.fingerprint, prior_range=(-1.0, 1.0),
                          model_fingerprint=codec.fingerprint)
    np.testing.assert_array_equal(code.symbols, result.code.symbols)  # bit-exact z
    np.testing.assert_array_equal(decompress_reversal(data, tiled), result.reconstruction)

    other = load_prior_generator(str(prior_dirs[1]), workdir)
    with pytest.raises(ModelMismatchError, match="made by code prior"):
        decompress_reversal(data, other)
    another_g = PriorTiledGenerator(tiled.networks, tiled.prior, b"\1" * 16)
    with pytest.raises(ModelMismatchError, match="G of GC model"):
        decompress_reversal(data, another_g)
    bundled = load_generator(assets.BUNDLED_GENERATOR_DIR)
    with pytest.raises(ModelMismatchError, match="--prior"):
        decompress_reversal(data, bundled)
    body = bytearray(data[:-4])
    struct.pack_into("<I", body, 26, 20)  # D no longer the grid's
    with pytest.raises(ModelMismatchError, match="20 z values"):
        decompress_reversal(with_crc(bytes(body)), tiled)
    with pytest.raises(ResourceLimitError, match="max-pixels"):
        decompress_reversal(data, tiled, max_pixels=40 * 72 - 1)
    with pytest.raises(BitstreamError, match="truncated"):
        decompress_reversal(data[:-20], tiled)
    with pytest.raises(ModelMismatchError, match="trained on codes of model"):
        load_prior_generator(str(prior_dirs[0]))  # the default G: the bundled model's
    with pytest.raises(ModelLoadError, match="is a generator SavedModel"):
        load_prior_generator(str(prior_dirs[0]), assets.BUNDLED_GENERATOR_DIR)
    # A generator SavedModel's file, offered to prior + G.
    v1, _ = compress_reversal(bundled, np.zeros((64, 64, 3), np.uint8), ReversalSettings(
        steps=2, restarts=1, finetune_steps=1))
    with pytest.raises(ModelMismatchError, match="without --prior"):
        decompress_reversal(v1, tiled)


@pytest.mark.slow
def test_reverse_and_decompress_whole_images_through_the_cli(workdir, prior_dirs, tmp_path):
    from tfgc.reversal import decompress_reversal
    from tfgc.reversal.generators import load_prior_generator

    prior = str(prior_dirs[0])
    Image.fromarray(photo(40, 72, 2)).save(tmp_path / "wide.png")
    Image.fromarray(photo(48, 32, 3)).save(tmp_path / "tall.png")
    out = tmp_path / "out"
    result = _cli("reverse", str(tmp_path / "wide.png"), str(tmp_path / "tall.png"),
                  "--generator", workdir, "--prior", prior, "-o", str(out), "--steps", "6",
                  "--restarts", "2", "--prune-after", "3", "--finetune-steps", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reversed 2 image(s)" in result.stderr
    files = {name: (out / f"{name}.tfgz").read_bytes() for name in ("wide", "tall")}

    # A batch: good files decode, bad ones get one line each, the exit status says so.
    corrupted = bytearray(files["wide"])
    corrupted[30] ^= 1
    (out / "corrupted.tfgz").write_bytes(bytes(corrupted))
    decoded = tmp_path / "decoded"
    result = _cli("decompress", str(out), "--generator", workdir, "--prior", prior,
                  "-o", str(decoded))
    assert result.returncode == 1
    assert "corrupted.tfgz: not a valid .tfgz file: CRC mismatch" in result.stderr
    assert "Traceback" not in result.stderr
    tiled = load_prior_generator(prior, workdir)
    for name, shape in (("wide", (40, 72, 3)), ("tall", (48, 32, 3))):
        pixels = np.asarray(Image.open(decoded / f"{name}.png"))
        assert pixels.shape == shape
        np.testing.assert_array_equal(pixels, decompress_reversal(files[name], tiled))

    code, stderr = tfgc_here("decompress", str(out / "wide.tfgz"), "--generator", workdir,
                             "-o", str(tmp_path / "x.png"))
    assert code == 1 and "--prior PRIOR_DIR" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "x.png").exists()


_STOCK_PRIOR = """
import json, sys
sys.modules["tensorflow_compression"] = None  # a stock TF server: any import of it fails
import tensorflow as tf
model = tf.saved_model.load({path!r})
paths = json.load(open({files!r}))
read = lambda name: open(paths[name], "rb").read()
results = {{}}
for name in paths:
    try:
        out = model.signatures["decompress"](bitstring=tf.constant([read(name)] * 2))
        results[name] = out["image"].numpy()[1].tolist()
        assert tf.io.decode_png(out["png_bytes"][0]).numpy().tolist() == results[name]
    except tf.errors.InvalidArgumentError as e:
        results[name] = e.message
pngs = model.signatures["decompress_png"](bitstring=tf.constant([read("wide"), read("tall")]))
results["pngs"] = [tf.io.decode_png(p).numpy().tolist() for p in pngs["png_bytes"]]
assert not [m for m in sys.modules if m.startswith("tfgc")]
print(json.dumps(results))
"""


def _prior_files(tiled, other_prior) -> dict[str, bytes]:
    """Version-2 files of `tiled` (two sizes, both coders) and bad ones, each named after the
    check it fails."""
    from tfgc.reversal.fileformat import HEADER_BYTES, LatentCode, encode_file

    rng = np.random.default_rng(0)

    def make(shape, coder="range", fingerprint=tiled.fingerprint,
             model=tiled.model_fingerprint):
        code = LatentCode(rng.integers(0, 21, tiled.latent_size(shape)).astype(np.int32), 0.1,
                          -10, 21)
        return encode_file(code, fingerprint=fingerprint, image_shape=shape, coder=coder,
                           prior_range=tiled.prior_range, model_fingerprint=model)

    wide = make((40, 72))

    corrupted = bytearray(wide)
    corrupted[30] ^= 1
    return {
        "wide": wide, "tall": make((48, 32)), "bzip2": make((40, 72), "bzip2"),
        "other_prior": make((40, 72), fingerprint=other_prior.fingerprint),
        "other_g": make((40, 72), model=b"\1" * 16),
        "generator_file": make((40, 72), model=None),  # version 1: a generator SavedModel's
        "empty": b"", "magic": b"TFGC" + wide[4:], "version": wide[:4] + b"\x09" + wide[5:],
        "truncated": wide[:-3], "crc": bytes(corrupted),
        "fields": with_field(wide, 30, "<f", 0.0),
        "shape": with_field(wide, 26, "<I", 20),  # 20 z values, the 2 x 3 tile grid takes 24
        "payload": with_crc(wide[:42] + struct.pack("<I", 1) + wide[HEADER_BYTES:][:16]
                             + b"\xff"),
    }


@pytest.mark.slow
def test_prior_and_g_saved_model_decompresses_like_the_api(workdir, prior_dirs, tmp_path):
    """`export.py --prior` in a fresh process, its SavedModel loaded in another one without
    tfgc or tensorflow_compression: the API's pixels for version-2 files of any size, the
    API's error classes for a wrong prior, a wrong G, a generator's file and broken files;
    bzip2 files only through the API (TF has no bzip2 op)."""
    import tensorflow as tf

    from tfgc.reversal import decompress_reversal
    from tfgc.reversal.generators import load_prior_generator
    from tfgc.reversal.graph_reader import error_from_graph

    out = tmp_path / "exports"
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export.py"), f"--workdir={workdir}",
         f"--prior={prior_dirs[0]}", f"--export_dir={out}", "--version=2"],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = out / "tfgc_prior" / "2"
    assert str(saved) in result.stdout and not (out / "tfgc").exists()
    assert not TF_LOG.search(result.stderr), result.stderr[-3000:]  # quiet, as every command
    # Refusals: the same command, run by export.py's `main` in this process (the run above
    # proved the entry point; a process would cost a TensorFlow start and a model load each).
    code, stderr = export_py_here(f"--workdir={workdir}", f"--prior={prior_dirs[0]}",
                                  f"--export_dir={out}", "--version=2")
    assert code == 1 and stderr.strip().splitlines() == [  # never over an existing version
        f"error: {saved} exists; choose another --version or omit it to use the next free one"]
    # A prior trained on another GC model's codes (the bundled model's G is not the one the
    # prior was trained for): refused in one line naming the mismatch, nothing written.
    code, stderr = export_py_here("--saved_model=bundled", f"--prior={prior_dirs[0]}",
                                  f"--export_dir={out}", "--version=3")
    lines = stderr.strip().splitlines()
    assert code == 1 and len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("error: ") and "trained on codes of model" in lines[0], lines
    assert not (out / "tfgc_prior" / "3").exists()

    tiled = load_prior_generator(str(prior_dirs[0]), workdir)
    files = _prior_files(tiled, load_prior_generator(str(prior_dirs[1]), workdir))
    paths = {}
    for name, data in files.items():
        paths[name] = str(tmp_path / f"{name}.tfgz")
        with open(paths[name], "wb") as f:
            f.write(data)
    with open(tmp_path / "files.json", "w") as f:
        json.dump(paths, f)
    served = subprocess.run([sys.executable, "-c", _STOCK_PRIOR.format(
        path=str(saved), files=str(tmp_path / "files.json"))],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert served.returncode == 0, served.stderr[-3000:]
    served = json.loads(served.stdout.strip().splitlines()[-1])

    outcomes = {}
    for name, data in files.items():
        try:
            api = decompress_reversal(data, tiled)
        except TfgcError as e:
            api = type(e).__name__
        if isinstance(served[name], str):
            error = error_from_graph(tf.errors.InvalidArgumentError(None, None, served[name]))
            outcomes[name] = (api if isinstance(api, str) else "decoded", type(error).__name__)
        else:
            np.testing.assert_array_equal(np.asarray(served[name], np.uint8), api, name)
            outcomes[name] = ("decoded", "decoded")
    mismatch, broken = ("ModelMismatchError",) * 2, ("BitstreamError",) * 2
    # A payload that is only garbage range-decodes alike in both readers.
    assert outcomes == {
        "wide": ("decoded",) * 2, "tall": ("decoded",) * 2, "payload": ("decoded",) * 2,
        "bzip2": ("decoded", "UnsupportedVersionError"), "other_prior": mismatch,
        "other_g": mismatch, "generator_file": mismatch, "shape": mismatch, "empty": broken,
        "magic": broken, "truncated": broken, "crc": broken, "fields": broken,
        "version": ("UnsupportedVersionError",) * 2}
    assert served["wide"] != served["payload"]  # the pictures depend on the file
    for png, name in zip(served["pngs"], ("wide", "tall")):  # two sizes: decompress_png
        np.testing.assert_array_equal(np.asarray(png, np.uint8), decompress_reversal(
            files[name], tiled))
