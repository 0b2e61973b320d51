"""Selective-compression (SC) files: preservation-mask and label-map sections, uncoded symbols."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import fix_crc
from tests.test_bitstream_errors import FP, OTHER_FP, _graph
from tfgc.coding import api, decode_symbols, encode_symbols, parse_header
from tfgc.coding import format as fmt
from tfgc.coding.backends import get_backend
from tfgc.coding.synthetic import correlated_symbols
from tfgc.errors import BitstreamError, ModelMismatchError, UnsupportedVersionError

H, W, C, L = 7, 12, 4, 5  # 84 mask bits: 4 padding bits
IMAGE = (112, 190)


def _png(height: int = IMAGE[0], width: int = IMAGE[1]) -> bytes:
    labels = np.zeros((height, width, 1), np.uint8)
    labels[height // 3:, width // 2:] = 13
    return tf.io.encode_png(labels).numpy()


def _encode(symbols, mask, backend="tfc", **kwargs) -> bytes:
    return encode_symbols(symbols, num_centers=L, image_shape=IMAGE, fingerprint=FP,
                          preserve_mask=np.asarray(mask, np.int32), label_map_png=_png(),
                          backend=backend, **kwargs).numpy()


@pytest.fixture(scope="module")
def symbols():
    return correlated_symbols(H, W, C, L, sigma=2.0, seed=11)


def test_only_preserved_symbols_cost_bits(symbols):
    rng = np.random.default_rng(0)
    payloads = []
    for fraction in (1.0, 0.6, 0.3, 0.0):
        mask = np.zeros((H, W), np.int32)
        mask[:, :round(W * fraction)] = 1
        data = _encode(symbols, mask)
        header = parse_header(data)
        assert header.selective and header.preserve_mask() == mask.astype(bool).tolist()
        payloads.append(header.payload_size)
        # Masked positions cost nothing: changing their symbols leaves every byte unchanged.
        other = np.where(mask[..., None] == 1, symbols, rng.integers(0, L, symbols.shape))
        assert _encode(other.astype(np.int32), mask) == data
        for backend in ("tfc", "stock"):
            assert _encode(symbols, mask, backend) == data
            decoded, fields = decode_symbols(data, fingerprint=FP, backend=backend)
            np.testing.assert_array_equal(decoded.numpy(), symbols * mask[..., None])
            np.testing.assert_array_equal(fields["preserve_mask"].numpy(), mask)
            assert fields["label_map_png"].numpy() == _png()
    assert payloads[0] > payloads[1] > payloads[2] > payloads[3] == 0
    gc = parse_header(encode_symbols(symbols, num_centers=L, image_shape=IMAGE,
                                     fingerprint=FP).numpy())
    assert not gc.selective and not gc.sections and payloads[0] == gc.payload_size


def test_sections_are_typed_required_and_sized(symbols):
    mask = np.ones((H, W), np.int32)
    header = parse_header(_encode(symbols, mask))
    kinds = [(s.type, s.required, len(s.data)) for s in header.sections]
    assert kinds == [(fmt.SECTION_PRESERVE_MASK, True, (H * W + 7) // 8),
                     (fmt.SECTION_LABEL_MAP, True, len(_png()))]


def _bad_selective_files(data: bytes) -> dict[str, tuple[bytes, type, str]]:
    header = parse_header(data)
    mask, labels = header.sections
    first = fmt.FIXED_HEADER_BYTES + 1  # the first section header
    mask_end = first + fmt.SECTION_HEADER.size + len(mask.data)
    rest = data[mask_end + fmt.SECTION_HEADER.size + len(labels.data):]

    def section(kind, payload, required=1):
        return fmt.SECTION_HEADER.pack(kind, required, len(payload)) + payload

    def with_sections(*sections, count=None, flags=fmt.FLAG_SELECTIVE):
        head = bytearray(data[:fmt.FIXED_HEADER_BYTES])
        head[5] = flags
        return fix_crc(bytes(head) + bytes([len(sections) if count is None else count])
                        + b"".join(sections) + rest)

    small_png = _png(IMAGE[0], IMAGE[1] - 1)
    rgb_png = tf.io.encode_png(np.zeros((*IMAGE, 3), np.uint8)).numpy()
    return {
        "flag without sections": (with_sections(), BitstreamError, "flag"),
        "sections without flag": (with_sections(section(1, mask.data), section(2, labels.data),
                                                flags=0), BitstreamError, "flag"),
        "mask too short": (with_sections(section(1, mask.data[:-1]), section(2, labels.data)),
                           BitstreamError, "mask"),
        "mask padding": (with_sections(section(1, mask.data[:-1] + b"\xff"),
                                       section(2, labels.data)), BitstreamError, "padding"),
        "label map not a PNG": (with_sections(section(1, mask.data), section(2, b"GIF89a" * 9)),
                                BitstreamError, "PNG"),
        "label map of another size": (with_sections(section(1, mask.data),
                                                    section(2, small_png)),
                                      BitstreamError, "label map"),
        "label map in colour": (with_sections(section(1, mask.data), section(2, rgb_png)),
                                BitstreamError, "grayscale"),
        "mask twice": (with_sections(section(1, mask.data), section(1, mask.data),
                                     section(2, labels.data)), BitstreamError, "more than one"),
        "unknown required section": (with_sections(section(1, mask.data),
                                                   section(2, labels.data), section(9, b"x")),
                                     UnsupportedVersionError, "section type 9"),
    }


def test_bad_selective_files_are_refused_in_python_and_graph(symbols):
    mask = np.zeros((H, W), np.int32)
    mask[2:5, 3:9] = 1
    data = _encode(symbols, mask)
    for name, (bad, error, match) in _bad_selective_files(data).items():
        with pytest.raises(error, match=match):
            decode_symbols(bad, fingerprint=FP)
        with pytest.raises(error):  # the graph alone (a SavedModel) reaches the same verdict
            _graph(bad)
        print(f"{name}: {error.__name__}")


def test_reader_without_sc_support_refuses_naming_the_section(symbols, monkeypatch):
    data = _encode(symbols, np.ones((H, W), np.int32))
    monkeypatch.setattr(fmt, "KNOWN_SECTION_TYPES", frozenset({fmt.SECTION_PRESERVE_MASK}))
    with pytest.raises(UnsupportedVersionError, match="section type 2"):
        parse_header(data)


def test_newer_features_are_refused_naming_what_is_missing(symbols):
    """What this reader does with a newer writer's additions, in Python and in the graph: an
    unknown flag bit (a reader from before SC saw flag 0x01 like this) and an unknown required
    section. Both UnsupportedVersionError, naming the bit or the section type."""
    data = _encode(symbols, np.ones((H, W), np.int32))
    header = parse_header(data)
    flagged = bytearray(data)
    flagged[5] |= 0x04
    end = fmt.FIXED_HEADER_BYTES + 1 + sum(fmt.SECTION_HEADER.size + len(s.data)
                                           for s in header.sections)
    extra = bytearray(data[:end] + fmt.SECTION_HEADER.pack(77, 1, 2) + b"hi" + data[end:])
    extra[fmt.FIXED_HEADER_BYTES] += 1
    for bad, names in ((fix_crc(bytes(flagged)), ("flag bits 0x04", "0x01 selective")),
                       (fix_crc(bytes(extra)), ("section type 77",))):
        for decode in (lambda d: decode_symbols(d, fingerprint=FP), _graph):
            with pytest.raises(UnsupportedVersionError) as info:
                decode(bad)
            assert all(name in str(info.value) for name in names), str(info.value)
            assert "upgrade tfgc" in str(info.value)


def test_an_sc_file_for_a_model_without_sc_says_so_before_the_fingerprint(symbols):
    """Check `selective` (docs/bitstream.md): the file's SC flag against the decoding model's
    mode, just before the fingerprint (which such a file never matches, so it would hide the
    reason). Python and graph agree on class, message and order."""
    names = list(fmt.CHECKS)
    assert names.index("selective") + 1 == names.index("fingerprint")
    assert names.index("crc") < names.index("selective")
    sc = _encode(symbols, np.ones((H, W), np.int32))
    gc = encode_symbols(symbols, num_centers=L, image_shape=IMAGE, fingerprint=FP).numpy()

    def graph(data, fingerprint, selective):
        function = api._decode_function(get_backend("stock"), None, None, None, selective)
        try:
            function(tf.constant(data), tf.constant(fingerprint), tf.zeros([0, 0], tf.int32),
                     tf.constant(fmt.NO_PIXEL_LIMIT, tf.int64))
        except tf.errors.InvalidArgumentError as e:
            raise api.error_from_graph(e) from None

    def python(data, fingerprint, selective):
        decode_symbols(data, fingerprint=fingerprint, selective=selective)

    for decode in (python, graph):
        for fingerprint in (FP, OTHER_FP):  # the model's own, or (as in life) another model's
            with pytest.raises(ModelMismatchError) as info:
                decode(sc, fingerprint, False)
            assert str(info.value) == fmt.selective_mismatch_message(True)
            with pytest.raises(ModelMismatchError) as info:
                decode(gc, fingerprint, True)
            assert str(info.value) == fmt.selective_mismatch_message(False)
        with pytest.raises(ModelMismatchError, match="made by model"):  # right mode, other model
            decode(sc, OTHER_FP, True)
        with pytest.raises(BitstreamError, match="CRC"):  # earlier checks still come first
            decode(sc[:-1] + bytes([sc[-1] ^ 1]), OTHER_FP, False)
        decode(sc, FP, True)
        decode(gc, FP, False)


def test_encoder_checks_selective_arguments(symbols):
    with pytest.raises(ValueError, match="h x w"):
        _encode(symbols, np.ones((H, W + 1), np.int32))
    with pytest.raises(ValueError, match="both"):
        encode_symbols(symbols, num_centers=L, image_shape=IMAGE, fingerprint=FP,
                       preserve_mask=np.ones((H, W), np.int32))
    with pytest.raises(BitstreamError, match="label map is 190x113"):
        encode_symbols(symbols, num_centers=L, image_shape=IMAGE, fingerprint=FP,
                       preserve_mask=np.ones((H, W), np.int32),
                       label_map_png=_png(IMAGE[0] + 1, IMAGE[1]))


def test_info_lists_the_sections_with_sizes():
    import json
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    golden = f"{REPO_ROOT}/tests/golden/selective_6x9x3_L5.tfgc"
    result = subprocess.run([sys.executable, "-m", "tfgc", "info", golden, "--json"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout)
    assert fields["mode"] == "selective (SC)" and fields["preserved_latents"] == "20 of 54"
    sections = {s["name"]: s for s in fields["sections"]}
    header = parse_header(open(golden, "rb").read())  # noqa: SIM115
    assert sections["preservation mask"]["bytes"] == 6 + len(header.sections[0].data)
    assert sections["label map"]["bytes"] == 6 + len(header.sections[1].data)
    assert sections["label map"]["required"] and sections["label map"]["bpp"] > 0
