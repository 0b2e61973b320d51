"""The TFLite decoder (`export.py --tflite`): built-in ops only, same symbols as every other
decoder, pixels as the stock SavedModel's, and bad files as error codes of the API's checks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, TF_LOG, export_py_here, photo, with_crc

pytestmark = pytest.mark.slow  # converts a model


@pytest.fixture(scope="module")
def tflite_path(export_dir, tmp_path_factory) -> str:
    """The tiny export's decoder written by `export.py --tflite` in a fresh process, which
    converts with TFLITE_BUILTINS only (it fails rather than fall back to Flex ops)."""
    path = str(tmp_path_factory.mktemp("tflite") / "decoder.tflite")
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export.py"),
         f"--saved_model={os.path.join(export_dir, 'tfgc', '1')}", f"--tflite={path}"],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"to {path}" in result.stdout and "built-in ops only" in result.stdout
    assert not TF_LOG.search(result.stderr), result.stderr[-3000:]  # quiet, as every command
    return path


@pytest.fixture(scope="module")
def runners(tflite_path):
    """signature -> run(file bytes, max_pixels), on one interpreter for every file."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=tflite_path)
    assert sorted(interpreter.get_signature_list()) == ["decode_symbols", "decompress_pixels"]
    limit = np.array(89_478_485, np.int64)

    def runner(key):
        run = interpreter.get_signature_runner(key)
        return lambda data, max_pixels=limit: run(
            data=np.frombuffer(data, np.uint8), max_pixels=np.asarray(max_pixels, np.int64))

    return {key: runner(key) for key in ("decode_symbols", "decompress_pixels")}


@pytest.fixture(scope="module")
def files(export_dir, codec):
    """Files of the tiny model: the export's own (model tables; one wide enough to decode in
    more than one block of steps), the training workdir's (file tables, decoder fingerprint D),
    and the export's symbols coded with each context structure's file tables."""
    from tfgc import coding
    from tfgc.codec import load_codec
    from tfgc.coding.builtin_ops_decoder import _BLOCK_STEPS

    exported = load_codec(export_dir)
    wide = 16 * (_BLOCK_STEPS // exported.num_channels + 2)  # one block and part of another
    out = {"export": exported.compress(photo(40, 56, 1)),
           "export, two blocks": exported.compress(photo(32, wide, 3)),
           "workdir": codec.compress(photo(33, 70, 2))}
    symbols, _ = coding.decode_symbols(out["export"], fingerprint=exported.fingerprint,
                                       model_tables=exported.model_tables)
    for structure in (0, 2, 4):
        out[f"structure {structure}"] = coding.encode_symbols(
            symbols, num_centers=exported.num_centers, image_shape=(40, 56),
            fingerprint=exported.fingerprint, decoder_fingerprint=exported.decoder_fingerprint,
            entropy_models=[structure]).numpy()
    return exported, out


def test_tflite_decoder_gives_the_symbols_and_pixels_of_the_stock_savedmodel(
        files, runners, export_dir):
    import tensorflow as tf

    from tfgc import coding

    exported, data = files
    # The tiny model's colours are far off: its files carry a colour offset, applied here.
    assert any(coding.parse_header(data["export"]).colour_offset)
    stock = tf.saved_model.load(os.path.join(export_dir, "tfgc_stock", "1"))
    for name, file in data.items():
        want, _ = coding.decode_symbols(file, fingerprint=exported.fingerprint,
                                        decoder_fingerprint=exported.decoder_fingerprint,
                                        model_tables=exported.model_tables, backend="stock")
        out = runners["decode_symbols"](file)
        assert int(out["error"]) == 0, name
        np.testing.assert_array_equal(out["symbols"], np.asarray(want), err_msg=name)
        pixels = runners["decompress_pixels"](file)
        reference = stock.signatures["decompress"](bitstring=tf.constant([file]))["image"][0]
        assert int(pixels["error"]) == 0 and pixels["image"].dtype == np.uint8
        assert pixels["image"].shape == tuple(reference.shape), name
        # TFLite's convolution kernels round differently from TF's (as for `synthesis`).
        difference = np.abs(pixels["image"].astype(int) - reference.numpy().astype(int))
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.01, (
            name, difference.max(), np.mean(difference > 0))


def test_tflite_decoder_reports_bad_files_as_the_api_classifies_them(files, runners):
    from tfgc import coding
    from tfgc.coding.builtin_ops_decoder import CHECK_NAMES, error_code, error_from_code
    from tfgc.errors import BitstreamError, ModelMismatchError, ResourceLimitError

    exported, data = files
    good = data["export"]
    body = bytearray(good[:-4])
    corrupted = bytearray(good)
    corrupted[len(good) // 2] ^= 0x10

    def field(offset, value):
        changed = bytearray(body)
        changed[offset] = value
        return with_crc(bytes(changed))

    # A payload byte changed and the CRC made to match: what only the check `payload` sees
    # (the first such change, from the end, that the API refuses: some changes are the exact
    # encoding of other symbols, which every decoder accepts).
    start = coding.parse_header(good).payload_offset
    for position in range(len(body) - 1, start - 1, -1):
        payload = bytearray(body)
        payload[position] ^= 0x5A
        payload = with_crc(bytes(payload))
        try:
            coding.decode_symbols(payload, fingerprint=exported.fingerprint,
                                  model_tables=exported.model_tables, backend="stock")
        except BitstreamError:
            break
    else:
        raise AssertionError("no payload change the API refuses")
    assert int(runners["decode_symbols"](payload)["error"]) == error_code("payload")
    with open(os.path.join(REPO_ROOT, "tests", "golden", "selective_6x9x3_L5.tfgc"), "rb") as f:
        selective = f.read()
    bad = {
        "selective": (selective, ModelMismatchError),
        "crc": (bytes(corrupted), BitstreamError),
        "truncated": (good[:30], BitstreamError),
        "version": (field(4, 2), BitstreamError),
        "fingerprint": (field(6, body[6] ^ 1), ModelMismatchError),
        "centers": (field(36, body[36] + 1), BitstreamError),  # 'contexts' or 'centers'
        "sizes": (field(34, 0), BitstreamError),
        "lengths": (with_crc(bytes(body[:-1])), BitstreamError),
    }
    from tests.test_colour_offset import bad_offset_files, without_colour_offset

    for name, (file, _) in bad_offset_files(without_colour_offset(good)).items():
        bad[f"colour offset {name}"] = (file, BitstreamError)
    for name, (file, error) in bad.items():
        code = int(runners["decode_symbols"](file)["error"])
        assert code != 0, name
        with pytest.raises(error) as api:
            coding.validate_file(file, fingerprint=exported.fingerprint,
                                 decoder_fingerprint=exported.decoder_fingerprint,
                                 model_tables=exported.model_tables, stride=16,
                                 num_centers=exported.num_centers,
                                 num_channels=exported.num_channels, selective=False)
        got = error_from_code(code)
        assert type(got) is type(api.value), (name, CHECK_NAMES[code - 1], api.value)
        pixels = runners["decompress_pixels"](file)
        assert int(pixels["error"]) == code and pixels["image"].shape == (1, 1, 3), name
    # The decode-size policy: the caller's limit, checked before anything is decoded.
    code = int(runners["decompress_pixels"](good, max_pixels=40 * 56 - 1)["error"])
    assert code == error_code("pixels") and isinstance(error_from_code(code), ResourceLimitError)


def test_export_tflite_refuses_what_it_cannot_convert(workdir, tmp_path):
    """`--tflite` converts a full export only, and models whose decoder has no built-in-op
    form (noise channels; SC) are refused with a ConfigError naming the reason."""
    from tests.conftest import tiny_config
    from tfgc.errors import ConfigError
    from tfgc.export.tflite import TFLiteDecoderModule
    from tfgc.networks import CodecNetworks

    path = tmp_path / "decoder.tflite"
    # export.py's main in this process (the fixture above runs `export.py --tflite` as one).
    code, stderr = export_py_here(f"--workdir={workdir}", f"--tflite={path}")
    assert code == 1 and not path.exists()
    assert stderr.strip().splitlines() == [
        "error: --tflite converts a full export: pass --saved_model (tfgc/<N>, or 'bundled'); "
        "export a training run with --export_dir first"], stderr[-2000:]
    config = tiny_config()
    config.model.noise_channels = 2
    with pytest.raises(ConfigError, match="noise channels"):
        TFLiteDecoderModule(CodecNetworks.from_config(config.model), None, (b"f" * 16, None))
