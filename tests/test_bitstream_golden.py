"""Committed `.tfgc` files pin the format: an accidental change to the bytes fails here.

Each golden file was written from the symbols stored next to it (tests/golden/*.npy) with the
arguments in tests/golden/manifest.json. The test re-encodes them (same bytes) and decodes the
committed files with both backends (same symbols). If a format change is intended, bump
FORMAT_VERSION, then regenerate with TFGC_REGENERATE_GOLDEN=1 and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import numpy as np
import pytest

from tfgc.coding import decode_symbols, encode_symbols, fit_model_tables, parse_header
from tfgc.coding.format import FORMAT_VERSION
from tfgc.coding.synthetic import correlated_symbols

GOLDEN = pathlib.Path(__file__).parent / "golden"
FP = bytes.fromhex("7466676320676f6c64656e2066696c65")  # b"tfgc golden file"
REGENERATE = os.environ.get("TFGC_REGENERATE_GOLDEN") == "1"

# name: (symbols, encode arguments); symbols are made once and then read from the .npy files.
SPECS = {
    "static_8x10x3_L5": (lambda: np.random.default_rng(1).choice(
                             5, (8, 10, 3), p=[0.7, 0.15, 0.1, 0.04, 0.01]),
                         {"num_centers": 5, "image_shape": [120, 150], "noise_seed": 1,
                          "entropy_models": [0]}),
    "context_8x12x4_L5": (lambda: correlated_symbols(8, 12, 4, 5, sigma=2.0, seed=2),
                          {"num_centers": 5, "image_shape": [128, 190], "noise_seed": 4242,
                           "entropy_models": "auto"}),
    "model_5x7x3_L5": (lambda: correlated_symbols(5, 7, 3, 5, sigma=1.5, seed=3),
                       {"num_centers": 5, "image_shape": [77, 112], "noise_seed": 2**32 - 1,
                        "entropy_models": ["model"], "model_tables": "model_tables_C3_L5"}),
    "tiny_1x1x1_L2": (lambda: np.ones((1, 1, 1)),
                      {"num_centers": 2, "image_shape": [1, 1], "noise_seed": 0,
                       "entropy_models": "auto"}),
    # Selective compression: a preservation-mask section and a label-map section (both types).
    "selective_6x9x3_L5": (lambda: correlated_symbols(6, 9, 3, 5, sigma=1.5, seed=5),
                           {"num_centers": 5, "image_shape": [90, 140], "noise_seed": 7,
                            "entropy_models": "auto",
                            "preserve_mask": [[int(3 <= x <= 6 and y >= 1) for x in range(9)]
                                              for y in range(6)],
                            "label_map_png": "label_map_90x140.png"}),
    # The optional colour-offset section (type 3): alone, and after the two SC sections.
    "offset_8x10x3_L5": (lambda: np.random.default_rng(6).choice(
                             5, (8, 10, 3), p=[0.7, 0.15, 0.1, 0.04, 0.01]),
                         {"num_centers": 5, "image_shape": [120, 150], "noise_seed": 1,
                          "entropy_models": [0], "colour_offset": [3, -128, 127]}),
    "selective_offset_6x9x3_L5": (lambda: correlated_symbols(6, 9, 3, 5, sigma=1.5, seed=5),
                                  {"num_centers": 5, "image_shape": [90, 140], "noise_seed": 7,
                                   "entropy_models": "auto",
                                   "preserve_mask": [[int(3 <= x <= 6 and y >= 1)
                                                      for x in range(9)] for y in range(6)],
                                   "label_map_png": "label_map_90x140.png",
                                   "colour_offset": [0, -2, 0]}),
}


def _label_map_png() -> None:
    """A two-region label map (train ids 0 and 11) as the SC golden file's label section."""
    from PIL import Image

    labels = np.zeros((90, 140), np.uint8)
    labels[20:, 50:110] = 11
    Image.fromarray(labels).save(GOLDEN / "label_map_90x140.png")


def _model_tables() -> np.ndarray:
    train = [correlated_symbols(16, 16, 3, 5, sigma=1.5, seed=s) for s in range(4)]
    return fit_model_tables(train, 5, 3, structure=1)


def _encode(symbols: np.ndarray, args: dict) -> bytes:
    args = dict(args)
    tables = args.pop("model_tables", None)
    if tables is not None:
        args["model_tables"] = np.load(GOLDEN / f"{tables}.npy")
    if "label_map_png" in args:
        args["label_map_png"] = (GOLDEN / args["label_map_png"]).read_bytes()
        args["preserve_mask"] = np.array(args["preserve_mask"], np.int32)
    return encode_symbols(symbols, fingerprint=FP, **args).numpy()


def _regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    np.save(GOLDEN / "model_tables_C3_L5.npy", _model_tables())
    _label_map_png()
    manifest = {"format_version": FORMAT_VERSION, "fingerprint": FP.hex(), "files": {}}
    for name, (make, args) in SPECS.items():
        symbols = np.asarray(make(), np.int32)
        np.save(GOLDEN / f"{name}.npy", symbols)
        data = _encode(symbols, args)
        (GOLDEN / f"{name}.tfgc").write_bytes(data)
        header = parse_header(data)
        manifest["files"][name] = {
            "encode": args, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "entropy_model": header.entropy_model, "header_bytes": header.header_size}
    (GOLDEN / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if REGENERATE:
    _regenerate()

MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def test_manifest_matches_this_build():
    assert MANIFEST["format_version"] == FORMAT_VERSION
    assert bytes.fromhex(MANIFEST["fingerprint"]) == FP
    assert set(MANIFEST["files"]) == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_golden_file(name):
    entry = MANIFEST["files"][name]
    data = (GOLDEN / f"{name}.tfgc").read_bytes()
    symbols = np.load(GOLDEN / f"{name}.npy")
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert _encode(symbols, entry["encode"]) == data, "encoder output changed"
    header = parse_header(data)
    assert header.entropy_model == entry["entropy_model"]
    assert header.header_size == entry["header_bytes"]
    assert header.noise_seed == entry["encode"]["noise_seed"]
    tables_name = entry["encode"].get("model_tables")
    tables = np.load(GOLDEN / f"{tables_name}.npy") if tables_name else None
    mask = np.array(entry["encode"].get("preserve_mask", np.ones(symbols.shape[:2])))
    assert header.selective == ("preserve_mask" in entry["encode"])
    offset = tuple(entry["encode"].get("colour_offset", (0, 0, 0)))
    assert header.colour_offset == offset
    expected = symbols * mask[..., None].astype(symbols.dtype)  # uncoded positions decode as 0
    for backend in ("tfc", "stock"):
        decoded, fields = decode_symbols(data, fingerprint=FP, model_tables=tables,
                                         backend=backend)
        np.testing.assert_array_equal(decoded.numpy(), expected, err_msg=backend)
        np.testing.assert_array_equal(fields["preserve_mask"].numpy(), mask)
        assert tuple(fields["colour_offset"].numpy()) == offset


def test_model_tables_fit_is_stable():
    """The stored model tables are what fit_model_tables still computes."""
    np.testing.assert_array_equal(_model_tables(), np.load(GOLDEN / "model_tables_C3_L5.npy"))
