"""SavedModel exports, loaded the way a server would load them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import EXPORT_UMASK, TF_LOG, photo


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "image.npy"
    image = photo(40, 56, seed=11)
    np.save(path, image)
    return str(path), image


@pytest.fixture(scope="module")
def exported_codec(export_dir):
    """The Python codec on the session's export (tfgc/1), loaded once for this file's tests."""
    from tfgc.codec import load_codec

    return load_codec(export_dir)


@pytest.fixture(scope="module")
def exported_models(export_dir):
    """tree name -> that SavedModel loaded in this process (once for this file's tests)."""
    import tensorflow as tf
    import tensorflow_compression  # noqa: F401  (the full export's ops)

    return {tree: tf.saved_model.load(os.path.join(export_dir, tree, "1"))
            for tree in ("tfgc", "tfgc_stock")}


# A server has TF but not tfgc: the subprocess refuses to import tfgc even where it is installed.
_WITHOUT_TFGC = """
import sys
class _NoTfgc:
    def find_spec(self, name, path=None, target=None):
        if name == 'tfgc' or name.startswith('tfgc.'):
            raise ImportError('this process plays a server without tfgc: import ' + name)
sys.meta_path.insert(0, _NoTfgc())
"""


# One server process runs every check of this file that needs a fresh process: for each export
# tree (STAGES, in order: the stock tree first, before anything imports tensorflow-compression,
# so its needing no tfc is proven) it runs the tree's block, loads its SavedModel once as `m`
# and runs the tree's PARTS, each with its own output.
_SERVER = """
import contextlib, io, json, traceback
import tensorflow as tf
results = {{}}
for tree, path, block, parts in {stages!r}:
    exec(block)
    m = tf.saved_model.load(path)
    results[tree] = {{}}
    for name, code in parts:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, name, 'exec'), {{'m': m}})
            results[tree][name] = [True, out.getvalue()]
        except BaseException:
            results[tree][name] = [False, out.getvalue() + traceback.format_exc()]
print(json.dumps(results))
"""


def _serve(stages: list[tuple[str, str, str, list[tuple[str, str]]]]) -> dict[str, dict]:
    """Runs each stage (tree, SavedModel path, block run before loading it, parts [(name,
    code)]) in order in one fresh process that has TF but not tfgc; tree -> name -> (ran
    without error, what it printed or its traceback)."""
    code = _WITHOUT_TFGC + _SERVER.format(stages=stages)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_layout_and_assets(export_run):
    export_dir = export_run.root
    for name in ("tfgc", "tfgc_stock"):
        version = os.path.join(export_dir, name, "1")
        assert os.path.exists(os.path.join(version, "saved_model.pb"))
        extra = os.path.join(version, "assets.extra")
        assert sorted(os.listdir(extra)) == ["config.json", "export.json", "fingerprint.txt",
                                             "model_card.md"]
    for name in ("tfgc", "tfgc_stock"):  # the debris export_run planted is gone
        assert sorted(os.listdir(os.path.join(export_dir, name))) == ["1"]
    assert "tfgc_stock/1: its other half was never written" in export_run.stderr, \
        export_run.stderr
    assert not TF_LOG.search(export_run.stdout + export_run.stderr), export_run.stderr  # quiet


def _modes(root: str) -> tuple[set[int], set[int]]:
    dirs, files = {os.stat(root).st_mode & 0o777}, set()
    for parent, subdirs, names in os.walk(root):
        dirs |= {os.stat(os.path.join(parent, d)).st_mode & 0o777 for d in subdirs}
        files |= {os.stat(os.path.join(parent, f)).st_mode & 0o777 for f in names}
    return dirs, files


def test_export_gets_the_permissions_of_the_umask(export_dir):
    for name in ("tfgc", "tfgc_stock"):
        dirs, files = _modes(os.path.join(export_dir, name, "1"))
        assert dirs == {0o777 & ~EXPORT_UMASK} and files == {0o666 & ~EXPORT_UMASK}, (
            name, sorted(map(oct, dirs)), sorted(map(oct, files)))


def test_version_pair_writer_under_umask_022(tmp_path):
    """The same writer as export.py's, with a trivial module (saving the model is slow)."""
    import tensorflow as tf

    from tfgc.export.saved_model import FULL_NAME, STOCK_NAME, save_module
    from tfgc.utils.files import atomic_directory

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x + 1},
                           input_signature=[tf.TensorSpec([None], tf.float32)])
    previous = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / FULL_NAME / "3") as a, \
                atomic_directory(tmp_path / STOCK_NAME / "3") as b:
            save_module(module, {"f": module.f}, a, {"fingerprint.txt": "00\n"})
            save_module(module, {"f": module.f}, b, {"fingerprint.txt": "00\n"})
    finally:
        os.umask(previous)
    for name in (FULL_NAME, STOCK_NAME):
        assert _modes(str(tmp_path / name / "3")) == ({0o755}, {0o644})


def test_half_pair_with_a_live_writer_is_kept(tmp_path):
    from tfgc.export.saved_model import remove_half_pairs
    from tfgc.utils.files import atomic_directory

    (tmp_path / "tfgc" / "2").mkdir(parents=True)
    with atomic_directory(tmp_path / "tfgc_stock" / "2"):  # this process is writing it
        assert remove_half_pairs(str(tmp_path)) == []
    (tmp_path / "tfgc" / "3").mkdir()
    assert remove_half_pairs(str(tmp_path)) == [str(tmp_path / "tfgc" / "3")]


def test_next_version_counts_both_trees(tmp_path):
    from tfgc.export.saved_model import next_version

    assert next_version(str(tmp_path)) == 1
    os.makedirs(tmp_path / "tfgc" / "3")
    os.makedirs(tmp_path / "tfgc_stock" / "4")
    assert next_version(str(tmp_path)) == 5


_FULL = """
import sys, hashlib, numpy as np, tensorflow as tf, tensorflow_compression
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
image = tf.constant(np.load({image!r})[None])
symbols = m.signatures['analysis'](image=image)['symbols']
assert symbols.dtype == tf.uint8
compressed = m.signatures['compress'](image=image)['bitstring_bytes']
assert compressed.shape == (1,), compressed.shape
data = compressed.numpy()[0]
open({stock_file!r}, 'wb').write(data)
out = m.signatures['decompress'](bitstring=tf.constant([data]))
assert 'tensorflow_compression' not in sys.modules and 'tfgc' not in sys.modules
np.save({symbols_out!r}, symbols.numpy())
print(hashlib.sha256(out['image'].numpy().tobytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def servers(export_dir, exported_codec, sample, tmp_path_factory):
    """Both export trees served by plain TF in one fresh process without tfgc (the stock one
    first, without tfc; each decodes the file it wrote, and the test compares the two files):
    tree -> {check: (ok, output)}, for the checks below (_FULL/_STOCK, _BAD, _BATCH), with
    their inputs and outputs in `folder`."""
    folder = tmp_path_factory.mktemp("servers")
    codec = exported_codec
    image_path, _ = sample
    good = codec.compress(photo(16, 16))
    images = np.stack([photo(32, 48, seed) for seed in range(3)])
    paths = [str(folder / f"{i}.tfgc") for i in range(3)]
    for image, path in zip(images, paths):
        with open(path, "wb") as f:
            f.write(codec.compress(image))
    np.save(folder / "images.npy", images)
    np.save(folder / "expected.npy",
            np.stack([codec.decompress(pathlib.Path(p).read_bytes()) for p in paths]))
    # What `synthesis` (symbols in: no file, so no colour offset) gives: the files' pixels
    # without their colour offsets.
    from tests.test_colour_offset import without_colour_offset

    np.save(folder / "expected_plain.npy", np.stack([codec.decompress(without_colour_offset(
        pathlib.Path(p).read_bytes())) for p in paths]))
    with open(folder / "other.tfgc", "wb") as f:
        f.write(codec.compress(photo(20, 36)))
    stages = []
    for tree in ("tfgc_stock", "tfgc"):
        path = os.path.join(export_dir, tree, "1")
        first = (_FULL.format(image=image_path, out=str(folder / "file.tfgc")) if tree == "tfgc"
                 else _STOCK.format(image=image_path, symbols_out=str(folder / "symbols.npy"),
                                    stock_file=str(folder / "stock.tfgc")))
        batch = _BATCH.format(path=path, images=str(folder / "images.npy"),
                              expected=str(folder / "expected.npy"),
                              expected_plain=str(folder / "expected_plain.npy"), files=paths,
                              other=str(folder / "other.tfgc"))
        stages.append((tree, path, "import tensorflow_compression" if tree == "tfgc" else "",
                       [("codec", first), ("bad", _BAD.format(truncated=good[:-9], good=good)),
                        ("batch", batch)]))
    return {"folder": folder, **_serve(stages)}


def _output(served: dict, tree: str, check: str) -> str:
    ok, output = served[tree][check]
    assert ok, f"{tree} {check}:\n{output[-3000:]}"
    return output


def test_full_and_stock_exports_match_the_python_codec(servers, exported_models, workdir,
                                                       sample):
    from tfgc import coding
    from tfgc.codec import Codec

    _, image = sample
    folder = servers["folder"]
    data_path, stock_path = str(folder / "file.tfgc"), str(folder / "stock.tfgc")
    full_pixels = _output(servers, "tfgc", "codec").split()[-1]
    stock_pixels = _output(servers, "tfgc_stock", "codec").split()[-1]
    with open(data_path, "rb") as f:
        data = f.read()
    with open(stock_path, "rb") as f:
        assert f.read() == data  # the stock export's compress writes the same file
    # The tiny model's colours are far off: the file carries a colour offset, which both
    # exports' decompress apply as the API does (the pixel hashes below).
    assert any(coding.parse_header(data).colour_offset)

    # The Python codec built from the training checkpoint, with the export's tables.
    loaded = exported_models["tfgc"]
    tables = loaded.model_tables.numpy()
    reference = Codec.from_workdir(workdir, model_tables=tables if tables.size else None)
    assert reference.fingerprint == bytes(loaded.fingerprint.numpy())
    assert reference.compress(image) == data
    python_pixels = reference.decompress(data)
    assert hashlib.sha256(python_pixels.tobytes()).hexdigest() == full_pixels == stock_pixels

    symbols, _ = coding.decode_symbols(data, fingerprint=reference.fingerprint,
                                       decoder_fingerprint=reference.decoder_fingerprint,
                                       model_tables=reference.model_tables)
    np.testing.assert_array_equal(np.load(folder / "symbols.npy")[0], symbols.numpy())


def _saved_model_cli(*args):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=600)


def _all_ops(saved_model_dir: str) -> set[str]:
    """Every op in a SavedModel, including the bodies of loops (which `saved_model_cli scan`
    does not follow: the batched signatures' map_fn hides the range coder from it)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    return ({node.op for node in graph.node}
            | {node.op for function in graph.library.function for node in function.node_def})


def test_only_the_full_export_uses_tfc_ops(export_dir):
    custom = {"CreateRangeEncoder", "CreateRangeDecoder"}
    assert not _all_ops(os.path.join(export_dir, "tfgc_stock", "1")) & custom
    assert _all_ops(os.path.join(export_dir, "tfgc", "1")) >= custom


def test_saved_model_cli_runs_stock_decompress(export_dir, exported_codec, tmp_path):
    # --input_exprs takes a Python literal, which saved_model_cli turns into a numpy 'S' array;
    # numpy strips trailing NUL bytes there, so use a file that does not end in one. It also
    # splits the flag at ';', so that byte is written as an escape.
    data = next(d for d in (exported_codec.compress(photo(20, 36, seed)) for seed in range(20))
                if d[-1] != 0)
    result = _saved_model_cli(
        "run", "--dir", os.path.join(export_dir, "tfgc_stock", "1"), "--tag_set", "serve",
        "--signature_def", "decompress", "--input_exprs",
        "bitstring=[{}]".format(repr(data).replace(";", "\\x3b")),
        "--outdir", str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr[-3000:]
    image = np.load(tmp_path / "cli" / "image.npy")
    assert image.shape == (1, 20, 36, 3) and image.dtype == np.uint8


def test_rest_request_and_response_shapes(exported_codec, exported_models):
    """The README's REST example, fed through the signature as TF Serving would."""
    import tensorflow as tf

    data = exported_codec.compress(photo(24, 32))
    request = json.dumps({"signature_name": "decompress",
                          "instances": [{"b64": base64.b64encode(data).decode()}]})
    parsed = json.loads(request)
    bitstrings = [base64.b64decode(row["b64"]) for row in parsed["instances"]]
    model = exported_models["tfgc_stock"]
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
def test_bad_bitstrings_are_errors_not_crashes(servers, tree):
    assert "ERRORS 4 THEN (1, 16, 16, 3)" in _output(servers, tree, "bad")


@pytest.mark.parametrize("tree", ["tfgc", "tfgc_stock"])
def test_bad_colour_offset_sections_get_the_api_class(exported_codec, exported_models, tree):
    import tensorflow as tf

    from tests.test_colour_offset import bad_offset_files, without_colour_offset
    from tfgc import coding
    from tfgc.errors import BitstreamError

    good = without_colour_offset(exported_codec.compress(photo(16, 16)))
    for name, (bad, _) in bad_offset_files(good).items():
        with pytest.raises(tf.errors.InvalidArgumentError) as failed:
            exported_models[tree].signatures["decompress"](bitstring=tf.constant([bad]))
        error = coding.error_from_graph(failed.value)
        assert isinstance(error, BitstreamError) and "section" in str(error), (name, error)


@pytest.mark.parametrize("structure", [0, 1, 2, 3])
def test_exports_decode_every_file_table_structure(exported_codec, exported_models, structure):
    """Files whose context tables travel in the file, not only the model-table files that the
    export's own compress may prefer (export.py under absl's app.run once produced graphs that
    refused these: tfgc/utils/absl_app.py)."""
    import tensorflow as tf

    from tfgc import coding

    codec = exported_codec
    image = photo(40, 72, seed=structure)
    symbols, _ = coding.decode_symbols(codec.compress(image), fingerprint=codec.fingerprint,
                                       decoder_fingerprint=codec.decoder_fingerprint,
                                       model_tables=codec.model_tables)
    data = bytes(coding.encode_symbols(
        symbols, num_centers=codec.num_centers, image_shape=image.shape[:2],
        fingerprint=codec.fingerprint, model_tables=codec.model_tables,
        entropy_models=[structure]).numpy())
    assert coding.parse_header(data).structure == structure
    assert not coding.parse_header(data).model_tables
    expected = codec.decompress(data)
    for model in exported_models.values():
        out = model.signatures["decompress"](bitstring=tf.constant([data]))["image"][0]
        np.testing.assert_array_equal(out.numpy(), expected)


_BATCH = """
import numpy as np, tensorflow as tf
images, expected = np.load({images!r}), np.load({expected!r})
expected_plain = np.load({expected_plain!r})
files = [open(p, 'rb').read() for p in {files!r}]
for n in (1, 2, 3):
    out = m.signatures['compress'](image=tf.constant(images[:n]))['bitstring_bytes'].numpy()
    assert list(out) == files[:n], n  # N images -> N files, each the Python codec's bytes
    dec = m.signatures['decompress'](bitstring=tf.constant(files[:n]))
    np.testing.assert_array_equal(dec['image'].numpy(), expected[:n])
    assert dec['png_bytes'].shape == (n,)
    for i in range(n):
        np.testing.assert_array_equal(tf.io.decode_png(dec['png_bytes'][i]).numpy(), expected[i])
    if 'synthesis' in m.signatures:  # the row format: per-item noise seeds
        symbols = m.signatures['analysis'](image=tf.constant(images[:n]))['symbols']
        out = m.signatures['synthesis'](symbols=symbols, noise_seed=tf.zeros([n], tf.int64))
        difference = np.abs(out['image'].numpy().astype(int) - expected_plain[:n])
        # One batched pass: exact for N = 1, batched conv kernels may round +-1 otherwise.
        assert difference.max() <= (0 if n == 1 else 1), (n, difference.max())
        print('SYNTHESIS', n, 'max', difference.max(), 'differing', (difference > 0).mean())
mixed = [files[0], open({other!r}, 'rb').read()]
try:
    m.signatures['decompress'](bitstring=tf.constant(mixed))
    raise SystemExit('two sizes in one image tensor: no error')
except tf.errors.InvalidArgumentError as e:
    assert 'different sizes' in e.message, e.message
pngs = m.signatures['decompress_png'](bitstring=tf.constant(mixed))['png_bytes']
print('SIZES', [tuple(tf.io.decode_png(p).shape) for p in pngs])
with tf.compat.v1.Session(graph=tf.Graph()) as session:  # TF Serving's loader and call path
    meta = tf.compat.v1.saved_model.loader.load(session, ['serve'], {path!r})
    signature = meta.signature_def['serving_default']
    fetch = {{k: v.name for k, v in signature.outputs.items()}}
    for n in (1, 2, 3):
        out = session.run(fetch, {{signature.inputs['bitstring'].name: files[:n]}})
        np.testing.assert_array_equal(out['image'], expected[:n])
        assert out['png_bytes'].shape == (n,)
print('BATCHES OK')
"""


@pytest.mark.parametrize("tree", ["tfgc", "tfgc_stock"])
def test_batched_signatures_return_one_result_per_item(servers, tree):
    out = _output(servers, tree, "batch")
    assert "BATCHES OK" in out and "SIZES [(32, 48, 3), (20, 36, 3)]" in out, out


def test_stock_analysis_and_synthesis_convert_to_tflite_builtin_ops(export_dir, exported_models):
    """A phone decodes with TFLite: synthesis (and analysis) need no Flex or custom ops."""
    import tensorflow as tf

    stock = os.path.join(export_dir, "tfgc_stock", "1")
    model = exported_models["tfgc_stock"]
    images = np.stack([photo(32, 48, seed) for seed in range(2)])
    reference = {"analysis": model.signatures["analysis"](image=tf.constant(images))}
    symbols = reference["analysis"]["symbols"]
    seeds = tf.constant([0, 7], tf.int64)
    reference["synthesis"] = model.signatures["synthesis"](symbols=symbols, noise_seed=seeds)
    inputs = {"analysis": {"image": images},
              "synthesis": {"symbols": symbols.numpy(), "noise_seed": seeds.numpy()}}
    for key, output in (("analysis", "symbols"), ("synthesis", "image")):
        converter = tf.lite.TFLiteConverter.from_saved_model(stock, signature_keys=[key])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = tf.lite.Interpreter(model_content=converter.convert())
        got = interpreter.get_signature_runner(key)(**inputs[key])[output]
        want = reference[key][output].numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        # TFLite's kernels round differently from TF's: the same up to 1 in a few values.
        difference = np.abs(got.astype(np.int64) - want.astype(np.int64))
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.01, (
            key, difference.max(), np.mean(difference > 0))


@pytest.mark.slow
def test_stock_synthesis_of_a_noise_model_does_not_convert_to_tflite_builtins(tmp_path):
    """What the README says: with noise channels, synthesis draws each item's noise in a loop
    (TensorList ops), which TFLite's built-in ops cannot run."""
    import tensorflow as tf

    from tests.conftest import tiny_config
    from tfgc.export.modules import make_module
    from tfgc.networks import CodecNetworks

    config = tiny_config()
    config.model.noise_channels = 2
    stock = make_module(CodecNetworks.from_config(config.model), None, stock=True)
    # A SavedModel of the stock module's `synthesis` alone (with its variables): saving the
    # whole module traces every other function of it too (17 -> 3 CPU-s).
    synthesis_only = tf.Module()
    synthesis_only.weights = list(stock.variables)
    synthesis_only.synthesis = stock.synthesis
    tf.saved_model.save(synthesis_only, str(tmp_path), signatures={"synthesis": stock.synthesis})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path),
                                                         signature_keys=["synthesis"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with pytest.raises(Exception, match="TensorList"):
        converter.convert()


def test_files_of_the_training_workdir_decode_with_its_export(exported_codec, exported_models,
                                                              codec):
    """Same checkpoint, same decoder weights: the export (which adds context tables) reads
    what the workdir's codec wrote, through the Python API and both SavedModels."""
    import tensorflow as tf

    from tfgc import coding
    from tfgc.errors import ModelMismatchError

    exported = exported_codec
    assert exported.model_tables is not None and codec.model_tables is None
    assert exported.decoder_fingerprint == codec.fingerprint != exported.fingerprint
    data = codec.compress(photo(40, 56, seed=3))
    expected = codec.decompress(data)
    offset = coding.parse_header(data).colour_offset
    np.testing.assert_array_equal(exported.decompress(data), expected)
    for model in exported_models.values():
        out = model.signatures["decompress"](bitstring=tf.constant([data]))["image"][0]
        np.testing.assert_array_equal(out.numpy(), expected)
    # A file coded with the export's tables still needs them.
    symbols, _ = coding.decode_symbols(data, fingerprint=codec.fingerprint)
    with_tables = bytes(coding.encode_symbols(
        symbols, num_centers=exported.num_centers, image_shape=(40, 56),
        fingerprint=exported.fingerprint, decoder_fingerprint=exported.decoder_fingerprint,
        model_tables=exported.model_tables, entropy_models=["model"],
        colour_offset=offset).numpy())
    np.testing.assert_array_equal(exported.decompress(with_tables), expected)
    with pytest.raises(ModelMismatchError):
        codec.decompress(with_tables)


def test_batched_stock_analysis_differs_only_at_quantization_boundaries(exported_codec,
                                                                       exported_models):
    """What the README says of `analysis` with N > 1: one item alone gives the symbols the
    Python codec writes; in a batch, TF's batch-size-dependent conv kernels may move a latent
    lying on a quantization boundary to the neighbouring symbol, and nothing else."""
    import tensorflow as tf

    from tfgc import coding

    analysis = exported_models["tfgc_stock"].signatures["analysis"]
    images = np.stack([photo(48, 64, seed) for seed in range(3)])
    alone = np.stack([analysis(image=tf.constant(images[i:i + 1]))["symbols"].numpy()[0]
                      for i in range(3)])
    for image, symbols in zip(images, alone):
        written, _ = coding.decode_symbols(
            exported_codec.compress(image), fingerprint=exported_codec.fingerprint,
            decoder_fingerprint=exported_codec.decoder_fingerprint,
            model_tables=exported_codec.model_tables)
        np.testing.assert_array_equal(symbols, np.asarray(written))
    batched = analysis(image=tf.constant(images))["symbols"].numpy()
    assert batched.shape == alone.shape and batched.dtype == np.uint8
    flipped = batched != alone
    assert np.abs(batched.astype(int) - alone).max() <= 1
    networks = exported_codec.networks
    latents = networks.encoder(tf.constant(images, tf.float32) / 127.5 - 1.0).numpy()
    centers = np.asarray(networks.quantizer.centers_list)
    boundaries = (centers[1:] + centers[:-1]) / 2
    to_boundary = np.abs(latents[..., None] - boundaries).min(-1)
    # Float rounding moves latents by ~1e-6 (batched kernels); a flip anywhere else is a bug.
    assert (to_boundary[flipped] < 1e-4).all(), to_boundary[flipped]
