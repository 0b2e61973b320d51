"""One classification: the Python API and both SavedModels (full and stock) give the same
tfgc error class for every bad file (the order of docs/bitstream.md, "Reading a file")."""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import fix_crc, photo
from tests.test_decode_limits import bombs
from tfgc.errors import TfgcError


@pytest.fixture(scope="module")
def readers(export_dir):
    """name -> function(bytes) raising a tfgc error: the API, and each SavedModel's signature
    with its InvalidArgumentError classified by `error_from_graph` (what a client does)."""
    import tensorflow_compression  # noqa: F401  (the full export's ops)

    from tfgc.codec import load_codec
    from tfgc.coding import error_from_graph

    codec = load_codec(export_dir)

    def signature(tree: str):
        decompress = tf.saved_model.load(os.path.join(export_dir, tree, "1")).signatures[
            "decompress"]

        def run(data: bytes):
            try:
                return decompress(bitstring=tf.constant([data]))["image"]
            except tf.errors.InvalidArgumentError as e:
                raise error_from_graph(e) from None

        return run

    return codec, {"api": codec.decompress, "full": signature("tfgc"),
                   "stock": signature("tfgc_stock")}


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    raw = bytearray(data)
    kind = rng.integers(5)
    at = int(rng.integers(0, len(raw)))
    if kind == 0:  # a header field byte
        raw[int(rng.integers(4, 45))] = int(rng.integers(256))
    elif kind == 1:
        raw[at] ^= 1 << int(rng.integers(8))
    elif kind == 2:  # junk inserted (e.g. before the CRC)
        raw[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 4))).tolist())
    elif kind == 3:
        del raw[at:at + int(rng.integers(1, 4))]
    else:
        raw = raw[:at]
    # Mostly with a fresh CRC, so the checks behind it are reached.
    return fix_crc(bytes(raw)) if len(raw) >= 8 and rng.random() < 0.85 else bytes(raw)


def _outcome(read, data: bytes) -> str:
    try:
        read(data)
        return "decoded"
    except TfgcError as e:
        return type(e).__name__


def test_api_and_saved_models_classify_bad_files_alike(readers):
    codec, read = readers
    from tfgc import coding

    seeds = []
    for seed, (h, w) in enumerate([(32, 48), (20, 36), (48, 16)]):
        data = codec.compress(photo(h, w, seed=seed))
        seeds.append(data)
        symbols, _ = coding.decode_symbols(data, fingerprint=codec.fingerprint,
                                           model_tables=codec.model_tables)
        for structure in (0, 3):  # file tables too, not only what compress picked
            seeds.append(bytes(coding.encode_symbols(
                symbols, num_centers=codec.num_centers, image_shape=(h, w),
                fingerprint=codec.fingerprint, entropy_models=[structure]).numpy()))
    rng = np.random.default_rng(12)
    files = [data for data, _ in bombs(codec).values()]
    files += [seeds[0][:-6] + b"junk" + seeds[0][-6:], fix_crc(seeds[0][:-6] + b"junk"
                                                                 + seeds[0][-6:])]
    files += [_mutate(seeds[i % len(seeds)], rng) for i in range(300)]
    start = time.perf_counter()
    outcomes, differ = Counter(), []
    for data in files:
        got = {name: _outcome(reader, data) for name, reader in read.items()}
        outcomes[got["api"]] += 1
        if len(set(got.values())) > 1:
            differ.append((data, got))
    print(f"{len(files)} files x 3 readers in {time.perf_counter() - start:.1f} s: "
          f"{dict(outcomes)}")
    assert not differ, differ[:5]
    assert len(outcomes) >= 4  # the fuzz reaches decodes and several error classes
