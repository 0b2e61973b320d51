"""The Python codec and the CLI: round trips, sizes, determinism across processes, bad files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, tiny_config
from tests.conftest import photo as _photo
from tfgc import coding
from tfgc.codec import Codec
from tfgc.data.images import load_image
from tfgc.errors import BitstreamError, ModelMismatchError, TfgcError


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (15, 16), (16, 16), (33, 47), (64, 96)])
def test_round_trip_any_size(codec, shape):
    image = _photo(*shape)
    data = codec.compress(image)
    out = codec.decompress(data)
    assert out.shape == (*shape, 3) and out.dtype == np.uint8
    header = coding.parse_header(data)
    assert (header.image_height, header.image_width) == shape
    assert header.latent_height == -(-shape[0] // 16) and header.latent_width == -(-shape[1] // 16)


def test_symbols_round_trip_bit_exact(codec):
    import tensorflow as tf

    from tfgc.data.padding import edge_pad

    image = _photo(48, 80, seed=1)
    data = codec.compress(image)
    x = tf.cast(edge_pad(tf.constant(image)), tf.float32)[tf.newaxis] / 127.5 - 1.0
    networks = codec.module.networks
    expected = networks.quantizer.symbols(networks.encoder(x))[0].numpy()
    symbols, _ = coding.decode_symbols(data, fingerprint=codec.fingerprint,
                                       decoder_fingerprint=codec.decoder_fingerprint,
                                       model_tables=codec.model_tables)
    np.testing.assert_array_equal(symbols.numpy(), expected)


def test_compress_is_deterministic_and_stays_below_raw(codec):
    image = _photo(64, 64, seed=2)
    a, b = codec.compress(image), codec.compress(image)
    assert a == b
    assert len(a) < image.size  # far below 8 bpp


_PROCESS = """
import sys, hashlib
sys.path.insert(0, {root!r})
import numpy as np
from tfgc.codec import load_codec
codec = load_codec({workdir!r})
image = np.load({image!r})
data = codec.compress(image)
pixels = codec.decompress(data)
print(hashlib.sha256(data).hexdigest(), hashlib.sha256(pixels.tobytes()).hexdigest())
"""


def test_identical_bytes_and_pixels_in_separate_processes(codec, workdir, tmp_path):
    """A fresh process that loads the model itself, against this (long-running) one."""
    import hashlib

    image = _photo(40, 72, seed=3)
    np.save(tmp_path / "image.npy", image)
    code = _PROCESS.format(root=REPO_ROOT, workdir=workdir, image=str(tmp_path / "image.npy"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data = codec.compress(image)
    assert result.stdout.split()[-2:] == [hashlib.sha256(data).hexdigest(),
                                          hashlib.sha256(codec.decompress(data).tobytes())
                                          .hexdigest()]


def test_bad_files_raise_tfgc_errors(codec):
    data = codec.compress(_photo(32, 32))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    cases = {"empty": b"", "truncated": data[: len(data) - 7], "bitflip": bytes(flipped),
             "magic": b"JUNK" + data[4:], "text": b"hello world, not a tfgc file"}
    for name, bad in cases.items():
        with pytest.raises(BitstreamError):
            codec.decompress(bad)
        assert name  # every case reached the assertion above


def test_file_from_another_model_is_refused(codec):
    from tfgc.training.trainer import build_model

    config = tiny_config()
    config.seed = 7
    import tensorflow as tf

    tf.keras.utils.set_random_seed(7)
    other_model, _ = build_model(config)
    other = Codec.from_networks(other_model.networks)
    assert other.fingerprint != codec.fingerprint
    with pytest.raises(ModelMismatchError, match="model"):
        codec.decompress(other.compress(_photo(32, 32)))


def test_non_rgb_inputs_are_converted_like_a_viewer(tmp_path):
    rgb = _photo(20, 30)
    cases = {
        "gray.png": Image.fromarray(rgb[..., 0], "L"),
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full((20, 30), 128, np.uint8)]), "RGBA"),
        "palette.png": Image.fromarray(rgb).convert("P"),
        "sixteen.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        loaded = load_image(str(tmp_path / name))
        assert loaded.pixels.shape == (20, 30, 3), name
        assert loaded.pixels.dtype == np.uint8
    assert load_image(str(tmp_path / "gray.png")).conversions
    # 16-bit scales to 8 bits: 257 * v -> v
    np.testing.assert_array_equal(load_image(str(tmp_path / "sixteen.png")).pixels[..., 0],
                                  rgb[..., 0])
    # RGBA at half alpha over white
    half = load_image(str(tmp_path / "rgba.png")).pixels.astype(int)
    np.testing.assert_allclose(half, (rgb.astype(int) * 128 + 255 * 127) / 255, atol=1.5)


def test_exif_rotation_is_applied(tmp_path):
    image = Image.fromarray(_photo(10, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    loaded = load_image(buffer.getvalue())
    assert loaded.pixels.shape == (30, 10, 3)
    assert any("EXIF" in c for c in loaded.conversions)


def test_absurd_image_is_refused_before_decoding(tmp_path):
    from tfgc.errors import ImageReadError

    header = b"P6\n100000 100000\n255\n"  # claims 10^10 pixels, holds none
    path = tmp_path / "huge.ppm"
    path.write_bytes(header + b"\x00" * 16)
    with pytest.raises(ImageReadError, match="claims"):
        load_image(str(path))


def test_api_rejects_wrong_inputs(codec):
    with pytest.raises(TfgcError):
        codec.compress(np.zeros((4, 4), np.uint8))
    with pytest.raises(TfgcError):
        codec.compress(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TfgcError):
        codec.decompress("not bytes")


def _cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_cli_compress_info_decompress(workdir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, shape in enumerate([(24, 40), (17, 9)]):
        Image.fromarray(_photo(*shape, seed=i)).save(folder / f"im{i}.png")
    Image.fromarray(_photo(20, 20)[..., 0], "L").save(folder / "gray.png")
    out = tmp_path / "out"
    result = _cli("compress", str(folder), "-o", str(out), "--model", workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["gray.tfgc", "im0.tfgc", "im1.tfgc"]
    assert "compressed 3 image(s)" in result.stderr and "bpp" in result.stderr
    assert "converted to RGB" in result.stderr

    info = _cli("info", str(out / "im0.tfgc"), "--json")
    assert info.returncode == 0, info.stderr
    fields = json.loads(info.stdout)
    assert fields["image_height"] == 24 and fields["image_width"] == 40
    assert fields["stride"] == 16  # the header's; only decompress compares it with a model's
    assert fields["file_bytes"] == os.path.getsize(out / "im0.tfgc")
    assert fields["header_bytes"] + fields["payload_bytes"] == fields["file_bytes"]
    # By default compress stores the colour offset (the tiny model's colours are far off).
    sections = [s["name"] for s in fields["sections"]]
    assert any(fields["colour_offset"]) and sections == ["colour offset"], fields

    (out / "broken.tfgc").write_bytes(b"TFGC broken")
    png = tmp_path / "png"
    result = _cli("decompress", str(out), "-o", str(png), "--model", workdir)
    assert result.returncode != 0  # one bad file fails the run ...
    assert "broken.tfgc" in result.stderr and "Traceback" not in result.stderr
    assert sorted(os.listdir(png)) == ["gray.png", "im0.png", "im1.png"]  # ... not the others
    assert Image.open(png / "im1.png").size == (9, 17)


def test_cli_missing_model_and_input_are_clear(tmp_path, capsys):
    from tfgc.__main__ import main

    result = _cli("compress", str(tmp_path / "nope.png"), "-o", str(tmp_path))
    assert result.returncode == 1 and "input not found" in result.stderr
    # The command's main in this process (a process would start TensorFlow to find no model).
    (tmp_path / "a.png").write_bytes(b"")
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path),
                 "--model", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


_ONEDNN_OFF = """
import os, sys
os.environ['TF_ENABLE_ONEDNN_OPTS'] = '0'
sys.path.insert(0, {root!r})
import numpy as np
from tfgc.codec import load_codec
codec = load_codec({workdir!r})
image = np.load({image!r})
open({out!r} + '.tfgc', 'wb').write(codec.compress(image))
np.save({out!r} + '.npy', codec.decompress(open({data!r}, 'rb').read()))
"""


def test_onednn_off_same_bytes_pixels_within_one(codec, workdir, tmp_path):
    """What README promises across kernel implementations: bytes, and pixels up to +-1."""
    image = _photo(48, 80, seed=5)
    np.save(tmp_path / "image.npy", image)
    data = codec.compress(image)
    (tmp_path / "in.tfgc").write_bytes(data)
    out = str(tmp_path / "off")
    code = _ONEDNN_OFF.format(root=REPO_ROOT, workdir=workdir, image=str(tmp_path / "image.npy"),
                              out=out, data=str(tmp_path / "in.tfgc"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "off.tfgc").read_bytes() == data
    difference = np.abs(np.load(out + ".npy").astype(int) - codec.decompress(data).astype(int))
    assert difference.max() <= 1, difference.max()
