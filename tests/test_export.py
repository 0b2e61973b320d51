"""SavedModel exports, loaded the way a server would load them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, photo


@pytest.fixture(scope="session")
def export_dir(workdir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exports"))
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export.py"), f"--workdir={workdir}",
         f"--export_dir={out}"], capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "image.npy"
    image = photo(40, 56, seed=11)
    np.save(path, image)
    return str(path), image


# A server has TF but not tfgc: the subprocess refuses to import tfgc even where it is installed.
_WITHOUT_TFGC = """
import sys
class _NoTfgc:
    def find_spec(self, name, path=None, target=None):
        if name == 'tfgc' or name.startswith('tfgc.'):
            raise ImportError('this process plays a server without tfgc: import ' + name)
sys.meta_path.insert(0, _NoTfgc())
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TFGC + code], capture_output=True,
                            text=True, timeout=600, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_layout_and_assets(export_dir):
    for name in ("tfgc", "tfgc_stock"):
        version = os.path.join(export_dir, name, "1")
        assert os.path.exists(os.path.join(version, "saved_model.pb"))
        extra = os.path.join(version, "assets.extra")
        assert sorted(os.listdir(extra)) == ["config.json", "export.json", "fingerprint.txt",
                                             "model_card.md"]
    assert not [d for d in os.listdir(os.path.join(export_dir, "tfgc")) if d.startswith(".tmp")]


def test_next_version_counts_both_trees(tmp_path):
    from tfgc.export.saved_model import next_version

    assert next_version(str(tmp_path)) == 1
    os.makedirs(tmp_path / "tfgc" / "3")
    os.makedirs(tmp_path / "tfgc_stock" / "4")
    assert next_version(str(tmp_path)) == 5


_FULL = """
import sys, hashlib, numpy as np, tensorflow as tf, tensorflow_compression
m = tf.saved_model.load({path!r})
image = np.load({image!r})
data = m.signatures['compress'](image=tf.constant(image[None]))['bitstring_bytes'].numpy()[0]
out = m.signatures['decompress'](bitstring=tf.constant([data]))
assert out['image'].shape == (1,) + image.shape, out['image'].shape
png = tf.io.decode_png(out['png_bytes'][0]).numpy()
assert (png == out['image'][0].numpy()).all()
assert 'tfgc' not in sys.modules
open({out!r}, 'wb').write(data)
print(hashlib.sha256(out['image'].numpy().tobytes()).hexdigest())
"""

_STOCK = """
import sys, hashlib, numpy as np, tensorflow as tf
m = tf.saved_model.load({path!r})
data = open({data!r}, 'rb').read()
out = m.signatures['decompress'](bitstring=tf.constant([data]))
image = tf.constant(np.load({image!r})[None])
symbols = m.signatures['analysis'](image=image)['symbols']
assert symbols.dtype == tf.uint8
compressed = m.signatures['compress'](image=image)['bitstring_bytes']
assert compressed.shape == (1,), compressed.shape
open({stock_file!r}, 'wb').write(compressed.numpy()[0])
assert 'tensorflow_compression' not in sys.modules and 'tfgc' not in sys.modules
np.save({symbols_out!r}, symbols.numpy())
print(hashlib.sha256(out['image'].numpy().tobytes()).hexdigest())
"""


def test_full_and_stock_exports_match_the_python_codec(export_dir, workdir, sample, tmp_path):
    import tensorflow as tf
    import tensorflow_compression  # noqa: F401  (the full export's ops)

    from tfgc import coding
    from tfgc.codec import Codec

    image_path, image = sample
    full = os.path.join(export_dir, "tfgc", "1")
    stock = os.path.join(export_dir, "tfgc_stock", "1")
    data_path = str(tmp_path / "file.tfgc")
    full_pixels = _run(_FULL.format(path=full, image=image_path, out=data_path)).split()[-1]
    stock_path = str(tmp_path / "stock.tfgc")
    stock_pixels = _run(_STOCK.format(path=stock, data=data_path, image=image_path,
                                      symbols_out=str(tmp_path / "symbols.npy"),
                                      stock_file=stock_path)).split()[-1]
    with open(data_path, "rb") as f:
        data = f.read()
    with open(stock_path, "rb") as f:
        assert f.read() == data  # the stock export's compress writes the same file

    # The Python codec built from the training checkpoint, with the export's tables.
    loaded = tf.saved_model.load(full)
    tables = loaded.model_tables.numpy()
    reference = Codec.from_workdir(workdir, model_tables=tables if tables.size else None)
    assert reference.fingerprint == bytes(loaded.fingerprint.numpy())
    assert reference.compress(image) == data
    python_pixels = reference.decompress(data)
    assert hashlib.sha256(python_pixels.tobytes()).hexdigest() == full_pixels == stock_pixels

    symbols, _ = coding.decode_symbols(data, fingerprint=reference.fingerprint,
                                       model_tables=reference.model_tables)
    np.testing.assert_array_equal(np.load(tmp_path / "symbols.npy")[0], symbols.numpy())


def _saved_model_cli(*args):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=600)


def test_saved_model_cli_scan_tells_stock_from_full(export_dir):
    deny = "CreateRangeEncoder,CreateRangeDecoder"
    stock = _saved_model_cli("scan", "--dir", os.path.join(export_dir, "tfgc_stock", "1"),
                             "--op_denylist", deny)
    full = _saved_model_cli("scan", "--dir", os.path.join(export_dir, "tfgc", "1"),
                            "--op_denylist", deny)
    assert stock.returncode == 0, stock.stderr[-2000:]
    assert "does not contain" in stock.stdout, stock.stdout
    assert "does not contain" not in full.stdout and "CreateRange" in full.stdout, full.stdout


def test_saved_model_cli_runs_stock_decompress(export_dir, codec, tmp_path):
    from tfgc.codec import load_codec

    # --input_exprs takes a Python literal, which saved_model_cli turns into a numpy 'S' array;
    # numpy strips trailing NUL bytes there, so use a file that does not end in one. It also
    # splits the flag at ';', so that byte is written as an escape.
    exported = load_codec(export_dir)
    data = next(d for d in (exported.compress(photo(20, 36, seed)) for seed in range(20))
                if d[-1] != 0)
    result = _saved_model_cli(
        "run", "--dir", os.path.join(export_dir, "tfgc_stock", "1"), "--tag_set", "serve",
        "--signature_def", "decompress", "--input_exprs",
        "bitstring=[{}]".format(repr(data).replace(";", "\\x3b")),
        "--outdir", str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr[-3000:]
    image = np.load(tmp_path / "cli" / "image.npy")
    assert image.shape == (1, 20, 36, 3) and image.dtype == np.uint8


def test_rest_request_and_response_shapes(export_dir):
    """The README's REST example, fed through the signature as TF Serving would."""
    import tensorflow as tf

    from tfgc.codec import load_codec

    data = load_codec(export_dir).compress(photo(24, 32))
    request = json.dumps({"signature_name": "decompress",
                          "instances": [{"b64": base64.b64encode(data).decode()}]})
    parsed = json.loads(request)
    bitstrings = [base64.b64decode(row["b64"]) for row in parsed["instances"]]
    model = tf.saved_model.load(os.path.join(export_dir, "tfgc_stock", "1"))
    outputs = model.signatures[parsed["signature_name"]](bitstring=tf.constant(bitstrings))
    # TF Serving's row format: one prediction per instance; *_bytes outputs become {"b64": ...}.
    predictions = [{"image": outputs["image"][i].numpy().tolist(),
                    "png_bytes": {"b64": base64.b64encode(outputs["png_bytes"][i].numpy())
                                  .decode()}} for i in range(len(bitstrings))]
    response = json.loads(json.dumps({"predictions": predictions}))
    assert np.asarray(response["predictions"][0]["image"]).shape == (24, 32, 3)
    png = base64.b64decode(response["predictions"][0]["png_bytes"]["b64"])
    assert tf.io.decode_png(png).shape == (24, 32, 3)


_BAD = """
import tensorflow as tf
m = tf.saved_model.load({path!r})
errors = 0
for bad in [b'', b'TFGC', {truncated!r}, b'x' * 5000]:
    try:
        m.signatures['decompress'](bitstring=tf.constant([bad]))
    except tf.errors.InvalidArgumentError:
        errors += 1
out = m.signatures['decompress'](bitstring=tf.constant([{good!r}]))
print('ERRORS', errors, 'THEN', out['image'].shape)
"""


@pytest.mark.parametrize("tree", ["tfgc", "tfgc_stock"])
def test_bad_bitstrings_are_errors_not_crashes(export_dir, tree):
    from tfgc.codec import load_codec

    good = load_codec(export_dir).compress(photo(16, 16))
    code = _BAD.format(path=os.path.join(export_dir, tree, "1"), truncated=good[:-9], good=good)
    if tree == "tfgc":
        code = "import tensorflow_compression\n" + code
    assert "ERRORS 4 THEN (1, 16, 16, 3)" in _run(code)


@pytest.mark.parametrize("structure", [0, 1, 2, 3])
def test_exports_decode_every_file_table_structure(export_dir, structure):
    """Files whose context tables travel in the file, not only the model-table files that the
    export's own compress may prefer (export.py under absl's app.run once produced graphs that
    refused these: tfgc/utils/absl_app.py)."""
    import tensorflow as tf
    import tensorflow_compression  # noqa: F401

    from tfgc import coding
    from tfgc.codec import load_codec

    codec = load_codec(export_dir)
    image = photo(40, 72, seed=structure)
    symbols, _ = coding.decode_symbols(codec.compress(image), fingerprint=codec.fingerprint,
                                       model_tables=codec.model_tables)
    data = bytes(coding.encode_symbols(
        symbols, num_centers=codec.num_centers, image_shape=image.shape[:2],
        fingerprint=codec.fingerprint, model_tables=codec.model_tables,
        entropy_models=[structure]).numpy())
    assert coding.parse_header(data).structure == structure
    assert not coding.parse_header(data).model_tables
    expected = codec.decompress(data)
    for tree in ("tfgc", "tfgc_stock"):
        model = tf.saved_model.load(os.path.join(export_dir, tree, "1"))
        out = model.signatures["decompress"](bitstring=tf.constant([data]))["image"][0]
        np.testing.assert_array_equal(out.numpy(), expected)
