"""The colour-offset section (docs/bitstream.md, type 3): the format and its readers, the
encoder's choice, the decoders' rule, and the switches of the API, `compress` and `evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import fix_crc, photo, tfgc_here
from tests.test_bitstream_errors import FP, _graph
from tfgc.coding import decode_symbols, encode_symbols, parse_header
from tfgc.coding import format as fmt
from tfgc.coding.synthetic import correlated_symbols
from tfgc.errors import BitstreamError

H, W, C, L = 7, 12, 4, 5
IMAGE = (112, 190)  # the latent times stride 16, less padding
OFFSET = (3, -2, 0)


@pytest.fixture(scope="module")
def plain() -> bytes:
    symbols = correlated_symbols(H, W, C, L, sigma=2.0, seed=12)
    return encode_symbols(symbols, num_centers=L, image_shape=IMAGE, fingerprint=FP).numpy()


def _section(offset=OFFSET, required: int = 0, data: bytes | None = None) -> bytes:
    data = bytes(o & 0xFF for o in offset) if data is None else data  # two's complement
    return fmt.SECTION_HEADER.pack(fmt.SECTION_COLOUR_OFFSET, required, len(data)) + data


def _with_sections(plain: bytes, *sections: bytes) -> bytes:
    """A GC file without sections, given these sections (count and CRC fixed)."""
    start = fmt.FIXED_HEADER_BYTES
    assert plain[start] == 0
    return fix_crc(plain[:start] + bytes([len(sections)]) + b"".join(sections)
                   + plain[start + 1:])


def without_colour_offset(data: bytes) -> bytes:
    """A file without its colour-offset section (other sections kept; CRC fixed)."""
    header = parse_header(data)
    end = fmt.FIXED_HEADER_BYTES + 1 + sum(fmt.SECTION_HEADER.size + len(s.data)
                                           for s in header.sections)
    kept = [s for s in header.sections if s.type != fmt.SECTION_COLOUR_OFFSET]
    return fix_crc(data[:fmt.FIXED_HEADER_BYTES] + bytes([len(kept)]) + b"".join(
        fmt.SECTION_HEADER.pack(s.type, s.required, len(s.data)) + s.data for s in kept)
        + data[end:-fmt.CRC_BYTES] + bytes(fmt.CRC_BYTES))


def bad_offset_files(plain: bytes) -> dict[str, tuple[bytes, str]]:
    """Files whose colour-offset section is malformed (check `section`, BitstreamError)."""
    return {
        "2 bytes": (_with_sections(plain, _section(data=b"\x01\x02")), "must have 3"),
        "4 bytes": (_with_sections(plain, _section(data=b"\x01\x02\x03\x04")), "must have 3"),
        "twice": (_with_sections(plain, _section(), _section()), "more than one"),
    }


def test_the_section_is_written_only_when_an_offset_is_not_zero(plain):
    symbols, _ = decode_symbols(plain, fingerprint=FP)
    args = {"num_centers": L, "image_shape": IMAGE, "fingerprint": FP}
    assert encode_symbols(symbols, **args, colour_offset=[0, 0, 0]).numpy() == plain
    # (The stock backends on such files: the golden files and both SavedModels' tests.)
    data = encode_symbols(symbols, **args, colour_offset=OFFSET).numpy()
    assert data == _with_sections(plain, _section())  # optional: required bit clear
    assert parse_header(data).colour_offset == OFFSET
    decoded, fields = decode_symbols(data, fingerprint=FP)
    np.testing.assert_array_equal(decoded, symbols)
    assert tuple(fields["colour_offset"].numpy()) == OFFSET
    with pytest.raises(ValueError, match=r"-128\.\.127"):
        encode_symbols(symbols, **args, colour_offset=[0, 128, 0])


def test_bad_offset_sections_are_refused_in_python_and_graph(plain):
    for bad, match in bad_offset_files(plain).values():
        with pytest.raises(BitstreamError, match=match):
            decode_symbols(bad, fingerprint=FP)
        with pytest.raises(BitstreamError, match="section"):  # the graph alone, as the
            _graph(bad)  # SavedModels run it (both exports: tests/test_export.py)
    # The required bit changes nothing for a reader that knows the type.
    required = _with_sections(plain, _section(required=1))
    assert parse_header(required).colour_offset == OFFSET
    assert tuple(_graph(required)[1]["colour_offset"].numpy()) == OFFSET


def test_builtin_ops_decoder_reads_and_checks_the_offset(plain):
    """The TFLite decoder's graph (run here by TF): the offset, and the API's check."""
    from tfgc.coding.builtin_ops_decoder import DecodingModel, decode_file, error_code

    model = DecodingModel(num_centers=L, num_channels=C, stride=16, fingerprint=FP,
                          decoder_fingerprint=None, model_tables=None)

    def decode(data):
        return decode_file(np.frombuffer(data, np.uint8), model, np.int64(1 << 30))

    out = decode(_with_sections(plain, _section()))
    assert int(out["error"]) == 0 and tuple(out["colour_offset"].numpy()) == OFFSET
    assert tuple(decode(plain)["colour_offset"].numpy()) == (0, 0, 0)
    for name, (bad, _) in bad_offset_files(plain).items():
        assert int(decode(bad)["error"]) == error_code("section"), name


def test_the_offset_corrects_the_mean_colour_and_only_that(codec):
    """The tiny model's colours are far off: the offset brings every channel's mean within a
    level, the file is the one without it plus the section, and the decoder adds the offset
    to every pixel that was not clipped. A file without the section decodes as G's output
    rounded, as before the section existed."""
    import tensorflow as tf

    from tfgc.evaluation.metrics import colour_bias
    from tfgc.export.modules import to_uint8

    image = photo(40, 56, seed=4)
    without = codec.compress(image, colour_offset=False)
    data = codec.compress(image)
    offset = parse_header(data).colour_offset
    assert parse_header(without).sections == ()
    assert data == _with_sections(without, _section(offset))
    assert without_colour_offset(data) == without
    before = codec.decompress(without)
    after = codec.decompress(data)
    assert max(map(abs, colour_bias(image, before))) > 2  # else this test shows nothing
    assert max(map(abs, colour_bias(image, after))) < 1, colour_bias(image, after)
    inside = (before > 0) & (before < 255)
    expected = np.clip(before.astype(int) + np.array(offset), 0, 255)
    np.testing.assert_array_equal(after[inside], expected[inside])
    symbols, _ = decode_symbols(without, fingerprint=codec.fingerprint,
                                     decoder_fingerprint=codec.decoder_fingerprint,
                                     model_tables=codec.model_tables)
    rendered = to_uint8(codec.networks.synthesis(symbols[tf.newaxis], 0))[0]
    np.testing.assert_array_equal(before, rendered[:40, :56])
    # (Latent optimisation stores the offset of its own symbols: tests/test_latent_search.py.)


def _info(path) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status, _ = tfgc_here("info", str(path), "--json")
    return status, out.getvalue()


def test_compress_and_evaluate_switch_it_off(workdir, tmp_path):
    from PIL import Image

    Image.fromarray(photo(40, 56, seed=4)).save(tmp_path / "img.png")
    # (compress stores it by default: tests/test_codec.py, through a real process.)
    out = tmp_path / "img.tfgc"
    status, stderr = tfgc_here("compress", str(tmp_path / "img.png"), "-o", str(out),
                               "--model", workdir, "--no-colour-offset")
    assert status == 0, stderr
    assert parse_header(out.read_bytes()).sections == ()
    status, stdout = _info(out)
    assert status == 0 and json.loads(stdout)["colour_offset"] == [0, 0, 0]
    status, stderr = tfgc_here("evaluate", "--images", str(tmp_path / "img.png"), "--out",
                               str(tmp_path / "eval"), "--model", workdir, "--baselines",
                               "none", "--nr-metrics", "none", "--crops", "0",
                               "--no-colour-offset", "--quiet")
    assert status == 0, stderr
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    model = results["images"][0]["model"]
    assert "without colour offset" in model["name"]
    assert model["bpp"] == pytest.approx(8 * out.stat().st_size / (40 * 56))
