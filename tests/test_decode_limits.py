"""Decompression bombs: tiny files that claim huge images are refused before anything is
allocated, by the Python API, the CLI and the SavedModels alike (tests/test_error_parity.py
runs the same files through the SavedModels)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO_ROOT, photo, with_crc
from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import BitstreamError, ResourceLimitError


def bomb(fingerprint: bytes, channels: int, centers: int, latent: tuple[int, int],
         image: tuple[int, int] | None = None, padding: tuple[int, int] = (0, 0)) -> bytes:
    """A valid-looking file whose every stream is empty: static uniform tables in the file
    (2 zero bits per channel), stream lengths 0 bits wide. 49 + C/4 bytes whatever it claims."""
    h, w = latent
    image = image or (16 * h - padding[0], 16 * w - padding[1])
    header = struct.pack("<4sBB16sHHHHHHHBBBI", b"TFGC", 1, 0, fingerprint, *image, *padding,
                         h, w, channels, centers, 0, 0, 0)
    body = header + b"\x00\x00" + bytes((2 * channels + 7) // 8)
    return with_crc(body)


def bombs(codec) -> dict[str, tuple[bytes, type]]:
    """name: (file, the error every reader must raise)."""
    args = codec.fingerprint, codec.num_channels, codec.num_centers
    return {
        # 4096^2 is under the default limit: the empty streams themselves are refused.
        "empty streams, 4096^2": (bomb(*args, (256, 256)), BitstreamError),
        "empty streams, 32768^2": (bomb(*args, (2048, 2048)), ResourceLimitError),
        "stride 65536": (bomb(*args, (1, 1), image=(65535, 65535), padding=(1, 1)),
                         BitstreamError),
        "stride 64": (bomb(*args, (4, 4), image=(256, 256)), BitstreamError),
        "padding of a stride": (bomb(*args, (2, 2), image=(16, 16), padding=(16, 16)),
                                BitstreamError),
    }


def test_bombs_are_refused(codec):
    for name, (data, error) in bombs(codec).items():
        start = time.perf_counter()
        with pytest.raises(error) as info:
            codec.decompress(data)
        seconds = time.perf_counter() - start
        print(f"{name}: {len(data)} bytes -> {type(info.value).__name__} in {seconds:.2f} s: "
              f"{info.value}")  # timings are reported, not asserted (shared machines)
    assert len(bombs(codec)["empty streams, 32768^2"][0]) <= 49 + codec.num_channels // 4


def test_max_pixels_names_the_limit_and_how_to_raise_it(codec):
    image = photo(40, 56, seed=3)
    data = codec.compress(image)
    with pytest.raises(ResourceLimitError) as info:
        codec.decompress(data, max_pixels=40 * 56 - 1)
    message = str(info.value)
    assert f"56x40 image ({40 * 56} pixels)" in message and f"limit of {40 * 56 - 1}" in message
    assert "max_pixels=" in message and "--max-pixels" in message
    exact = codec.decompress(data, max_pixels=40 * 56)
    assert exact.shape == image.shape
    np.testing.assert_array_equal(codec.decompress(data, max_pixels=None), exact)
    # The graph enforces the limit itself (what a SavedModel runs), with the same class and
    # message, not only the Python check in front of it.
    from tfgc.coding.api import error_from_graph

    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        codec.module.decompress_one(tf.constant(data), tf.constant(100, tf.int64))
    error = error_from_graph(info.value)
    assert type(error) is ResourceLimitError
    assert str(error).startswith("this file decodes to a 56x40 image (2240 pixels), above the "
                                 "limit of 100 pixels")


def test_default_limit_is_pillows():
    from PIL import Image

    assert DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS


def test_out_of_memory_is_a_tfgc_error(codec, monkeypatch):
    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    data = codec.compress(photo(16, 16))
    # The codec drives the tiles itself (decompress_one / compress_one for older exports).
    for function in ("synthesis_tile", "decompress_one"):
        monkeypatch.setattr(codec.module, function, exhausted)
    with pytest.raises(ResourceLimitError, match="out of memory decoding"):
        codec.decompress(data)
    for function in ("analysis_tile", "compress_one"):
        monkeypatch.setattr(codec.module, function, exhausted)
    with pytest.raises(ResourceLimitError, match="out of memory compressing"):
        codec.compress(photo(16, 16))


def test_cli_max_pixels(codec, workdir, tmp_path):
    small = tmp_path / "small.tfgc"
    small.write_bytes(codec.compress(photo(24, 40, seed=1)))
    bad = tmp_path / "bomb.tfgc"
    bad.write_bytes(bombs(codec)["empty streams, 32768^2"][0])
    result = subprocess.run(
        [sys.executable, "-m", "tfgc", "decompress", str(small), str(bad), "-o",
         str(tmp_path / "out"), "--model", workdir, "--max-pixels", str(24 * 40)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "bomb.tfgc" in errors[0], result.stderr
    assert "32768x32768" in errors[0] and f"limit of {24 * 40}" in errors[0]
    assert "--max-pixels" in errors[0]
    assert os.path.exists(tmp_path / "out" / "small.png")
