"""Every kind of bad file ends in the right tfgc error, in Python and inside the graph.

The Python API validates files itself (precise messages); the decode graph (what a SavedModel
runs) must also refuse them with InvalidArgumentError from its asserts, never crash, hang or
allocate what a header claims. The graph is exercised directly, with CRCs recomputed so that
its structural checks, not only the CRC, are what stops a bad file.
"""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import fix_crc
from tfgc.coding import api, decode_symbols, encode_symbols, parse_header
from tfgc.coding import format as fmt
from tfgc.coding.backends import get_backend
from tfgc.coding.synthetic import correlated_symbols
from tfgc.errors import (
    BitstreamError,
    ModelMismatchError,
    TfgcError,
    UnsupportedVersionError,
)

FP = bytes(range(16))
OTHER_FP = bytes(range(100, 116))


@pytest.fixture(scope="module")
def valid():
    """(symbols, file) pairs: context tables, static tables, a 1-column latent."""
    out = []
    for (h, w, c, num_centers), models in [((8, 12, 4, 5), "auto"), ((3, 5, 2, 3), [0]),
                                           ((6, 1, 3, 5), [3])]:
        symbols = correlated_symbols(h, w, c, num_centers, sigma=2.0, seed=h)
        data = encode_symbols(symbols, num_centers=num_centers, image_shape=(h * 16, w * 16),
                              fingerprint=FP, entropy_models=models).numpy()
        out.append((symbols, data))
    return out


def _set(data: bytes, offset: int, fmt_char: str, value: int) -> bytes:
    raw = bytearray(data)
    struct.pack_into("<" + fmt_char, raw, offset, value)
    return fix_crc(bytes(raw))


def _graph(data: bytes, fingerprint: bytes = FP, backend: str = "tfc"):
    """The decode graph alone (no Python validation), as a SavedModel would run it."""
    function = api._decode_function(get_backend(backend), None, None, None)  # cached
    try:
        return function(tf.constant(data), tf.constant(fingerprint), tf.zeros([0, 0], tf.int32),
                        tf.constant(fmt.NO_PIXEL_LIMIT, tf.int64))
    except tf.errors.InvalidArgumentError as e:
        raise api.error_from_graph(e) from None


def _bad_files(data: bytes) -> dict[str, tuple[bytes, type, str | None]]:
    header = parse_header(data)
    lengths_at = header.tables_offset - (header.latent_height * max(
        header.stream_lengths).bit_length() + 7) // 8 - 1
    return {
        "empty": (b"", BitstreamError, "empty"),
        "truncated": (data[:-5], BitstreamError, "CRC"),
        "truncated header": (data[:20], BitstreamError, "truncated"),
        "bit flip": (data[:50] + bytes([data[50] ^ 0x10]) + data[51:], BitstreamError, "CRC"),
        "wrong magic": (fix_crc(b"PNG\x89" + data[4:]), BitstreamError, "magic"),
        "not a tfgc file": (b"\x89PNG\r\n\x1a\n" + bytes(100), BitstreamError, "magic"),
        "newer version": (_set(data, 4, "B", 2), UnsupportedVersionError, "version 2"),
        "version 0": (_set(data, 4, "B", 0), BitstreamError, "version 0"),
        "unknown flags": (_set(data, 5, "B", 0x40), UnsupportedVersionError, "flag bits 0x40"),
        "other model": (_set(data, 6, "I", 0xDEADBEEF), ModelMismatchError, "made by model"),
        "huge latent": (_set(_set(data, 30, "H", 4096), 32, "H", 4096), BitstreamError, None),
        "huge image": (_set(data, 22, "H", 65535), BitstreamError, "stride"),
        "1024 channels": (_set(data, 34, "H", 1024), BitstreamError, None),
        "zero channels": (_set(data, 34, "H", 0), BitstreamError, "channels"),
        "L = 65": (_set(data, 36, "B", 65), BitstreamError, "centers"),
        "L = 1": (_set(data, 36, "B", 1), BitstreamError, "centers"),
        "unknown entropy model": (_set(data, 37, "B", 9), BitstreamError, "entropy model"),
        "bad precision": (_set(data, 38, "B", 0xFF), BitstreamError, "precision"),
        "absurd section": (fix_crc(data[:43] + b"\x01\x05\x00\xff\xff\xff\x7f" + data[44:]),
                           BitstreamError, "section"),
        "required section": (fix_crc(data[:43] + b"\x01\x05\x01\x01\x00\x00\x00X" + data[44:]),
                             UnsupportedVersionError, "section"),
        "lengths 33 bits": (_set(data, lengths_at, "B", 33), BitstreamError, None),
        "lengths past end": (_set(data, lengths_at, "B", 32), BitstreamError, None),
        "garbage tables": (fix_crc(data[:header.tables_offset] + b"\xff" * header.tables_size
                                    + data[header.payload_offset:]), BitstreamError, "table"),
    }


def test_bad_files_raise_the_right_error(valid):
    symbols, data = valid[0]
    for name, (bad, error, match) in _bad_files(data).items():
        with pytest.raises(error, match=match):
            decode_symbols(bad, fingerprint=FP)
        with pytest.raises(error):  # the graph alone reaches the same verdict
            _graph(bad)
        print(f"{name}: {error.__name__}")
    decoded, _ = decode_symbols(data, fingerprint=FP)
    np.testing.assert_array_equal(decoded.numpy(), symbols)


def test_model_mismatch_message_names_both_models(valid):
    _, data = valid[0]
    with pytest.raises(ModelMismatchError) as info:
        decode_symbols(data, fingerprint=OTHER_FP)
    assert FP.hex() in str(info.value) and OTHER_FP.hex() in str(info.value)
    with pytest.raises(ModelMismatchError) as info:
        _graph(data, OTHER_FP)
    assert FP.hex() in str(info.value) and OTHER_FP.hex() in str(info.value)
    with pytest.raises(ModelMismatchError, match="centers"):
        decode_symbols(data, fingerprint=FP, num_centers=3)


def test_newer_version_names_both_versions(valid):
    _, data = valid[0]
    with pytest.raises(UnsupportedVersionError) as info:
        decode_symbols(_set(data, 4, "B", 7), fingerprint=FP)
    assert "version 7" in str(info.value) and f"up to {fmt.FORMAT_VERSION}" in str(info.value)


def test_optional_sections_are_skipped(valid):
    symbols, data = valid[0]
    with_section = fix_crc(data[:43] + b"\x02\x09\x00\x03\x00\x00\x00abc\x0a\x00\x00\x00\x00\x00"
                            + data[44:])
    header = parse_header(with_section)
    assert [(s.type, s.required, s.data) for s in header.sections] == [(9, False, b"abc"),
                                                                       (10, False, b"")]
    decoded, _ = decode_symbols(with_section, fingerprint=FP)
    np.testing.assert_array_equal(decoded.numpy(), symbols)
    decoded, _ = _graph(with_section)
    np.testing.assert_array_equal(decoded.numpy(), symbols)


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    raw = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(4)
        at = int(rng.integers(0, len(raw) + 1))
        if kind == 0 and raw:
            at = min(at, len(raw) - 1)
            raw[at] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            raw[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 4))).tolist())
        elif kind == 2 and raw:
            del raw[at:at + int(rng.integers(1, 4))]
        else:
            raw = raw[:at]
    return bytes(raw)


def test_fuzz_mutated_files(valid):
    """Random flips/inserts/deletes/truncations: a clean tfgc error or a correct decode.

    Half the cases keep the stale CRC (Python API: must be an error or, if the mutation was
    undone by chance, the right symbols). The other half get a fresh CRC and go to the graph
    alone (tfc and stock backends in turn): structurally wrong files must fail its asserts,
    and whatever decodes must at least be a well-formed latent (the CRC is what guarantees
    the symbols themselves).
    """
    rng = np.random.default_rng(2024)
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    cases = 400
    for case in range(cases):
        symbols, data = valid[case % len(valid)]
        bad = _mutate(data, rng)
        if case % 2 == 0:
            try:
                decoded, _ = decode_symbols(bad, fingerprint=FP)
                np.testing.assert_array_equal(decoded.numpy(), symbols)
                outcome = "python: decoded correctly"
            except TfgcError as e:
                outcome = f"python: {type(e).__name__}"
        else:
            backend = "tfc" if case % 4 == 1 else "stock"
            try:
                decoded, fields = _graph(fix_crc(bad), backend=backend)
                decoded = decoded.numpy()
                assert decoded.ndim == 3 and decoded.shape[2] == int(fields["channels"])
                assert decoded.min() >= 0 and decoded.max() < int(fields["num_centers"])
                outcome = (f"graph ({backend}), CRC fixed: decoded correctly"
                           if np.array_equal(decoded, symbols) else
                           f"graph ({backend}), CRC fixed: decoded other symbols")
            except TfgcError as e:
                outcome = f"graph ({backend}), CRC fixed: {type(e).__name__}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    seconds = time.perf_counter() - start
    print(f"fuzz: {cases} mutated files in {seconds:.1f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {count:4d}  {outcome}")
    assert sum(outcomes.values()) == cases
    assert all(o.startswith(("python: decoded correctly", "python: Bitstream",
                             "python: ModelMismatch", "python: UnsupportedVersion", "graph"))
               for o in outcomes)


def test_python_limits_refuse_absurd_claims_before_allocating():
    """A 60-byte file claiming a 2**32-element latent or a 4 GB section is refused at once."""
    header = struct.pack("<4sBB16sHHHHHHHBBBI", b"TFGC", 1, 0, FP, 65535, 65535, 1, 1, 4096,
                         4096, 1024, 64, 3, 0x10, 0)
    for body in [header + b"\x00\x00", header + b"\x01\x00\x00\xff\xff\xff\xff"]:
        data = fix_crc(body + b"\x00" * 4)
        start = time.perf_counter()
        with pytest.raises(BitstreamError):
            parse_header(data)
        with pytest.raises(BitstreamError):
            _graph(data)
        assert time.perf_counter() - start < 5
    # 4096 rows, one of them 16 KB long: the stock decoder would pad every row to 16 KB.
    def long_row_file(rows: int, width: int, channels: int, long: int) -> bytes:
        header = struct.pack("<4sBB16sHHHHHHHBBBI", b"TFGC", 1, 0, FP, rows, width, 0, 0, rows,
                             width, channels, 2, 0, 0, 0)
        lengths = (long << (15 * (rows - 1))).to_bytes((15 * rows + 7) // 8, "big")
        return fix_crc(header + b"\x00\x0f" + lengths + b"\x00" * (channels // 8)
                        + b"\x55" * long + bytes(4))

    data = long_row_file(4096, 8, 1024, 16385)
    for decode in (parse_header, _graph):
        with pytest.raises(BitstreamError, match="rows x longest stream"):
            decode(data)
    # A stream longer than the coder can write for its symbols (2 bytes each, 2 to finish).
    data = long_row_file(4096, 1, 1, 5)
    for decode in (parse_header, _graph):
        with pytest.raises(BitstreamError, match="the coder writes"):
            decode(data)
