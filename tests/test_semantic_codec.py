"""SC models end to end: train.py, the Python API, the CLI and both SavedModels (fresh
processes), bad inputs. One tiny model, trained once by train.py, serves every test here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.conftest import REPO_ROOT, fix_crc, tfgc_here
from tests.test_semantic_model import train_py
from tfgc.coding import error_from_graph, parse_header
from tfgc.coding import format as fmt
from tfgc.errors import BitstreamError, ConfigError, ImageReadError, ModelMismatchError, TfgcError
from tfgc.semantic import scenes
from tfgc.semantic.labels import label_set

PRESERVED = "person,car"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Procedural scenes (images and Cityscapes label ids) of an odd size, their root, and the
    first one's image, label ids, train ids and people-and-cars mask."""
    root = str(tmp_path_factory.mktemp("sc_scenes"))
    paths = scenes.write_scenes(root, 3, 72, 104, seed=5)[0]
    ids = np.asarray(Image.open(paths["labels"]))
    cityscapes = label_set("cityscapes")
    train_ids = cityscapes.lookup().astype(np.uint8)[ids]
    mask = np.isin(train_ids, cityscapes.class_ids(PRESERVED)).astype(np.uint8)
    return {"root": root, "image": paths["image"], "labels": paths["labels"], "ids": ids,
            "train_ids": train_ids, "mask": mask}


@pytest.fixture(scope="module")
def sc_workdir(scene, tmp_path_factory):
    """train.py: one GAN step of a tiny SC model with random-instance masks (RI) on the scenes
    (checked by `train_py`: the conditioned train_step ran). One D scale: this model is here
    to be coded with (tests/test_semantic_model.py trains the conditioned D at two)."""
    path = str(tmp_path_factory.mktemp("sc_run"))
    train_py(scene["root"], path, "sc", "ri", "--config.model.discriminator_scales=1")
    return path


@pytest.fixture(scope="module")
def sc_codec(sc_workdir):
    from tfgc.codec import load_codec

    return load_codec(sc_workdir)


@pytest.fixture(scope="module")
def sc_export(sc_workdir, tmp_path_factory):
    """The SC model exported by export.py (full and stock SavedModels, version 1)."""
    out = tmp_path_factory.mktemp("sc_export")
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "export.py"),
                             f"--workdir={sc_workdir}", f"--export_dir={out}"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(out)


@pytest.fixture(scope="module")
def sc_exported(sc_export):
    """The Python API on the full SC export (a SavedModel loads without tracing graphs; the API
    tests load the training workdir, the same `load_codec`), loaded once for this file."""
    from tfgc.codec import load_codec

    return load_codec(sc_export)


def test_api_round_trip_and_only_preserved_latents_coded(sc_codec, scene):
    image, labels, ids = scene["image"], scene["labels"], scene["ids"]
    everything = sc_codec.compress(image, labels=labels, preserve_mask=np.ones_like(ids))
    people_cars = sc_codec.compress(image, labels=labels, preserve=PRESERVED)
    box = sc_codec.compress(image, labels=labels, preserve_box=(0, 0, 40, 30))
    nothing = sc_codec.compress(image, labels=labels, preserve_mask=np.zeros_like(ids))
    sizes = [parse_header(d).payload_size for d in (everything, people_cars, box, nothing)]
    assert sizes[0] > sizes[1] > 0 and sizes[0] > sizes[2] > 0 and sizes[3] == 0
    mask = np.array(parse_header(box).preserve_mask())
    assert mask[:2, :3].all() and mask.sum() == 6  # 40x30 px box -> 3x2 latent blocks
    for data in (everything, people_cars, box, nothing):
        out = sc_codec.decompress(data)
        assert out.shape == (72, 104, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(sc_codec.decompress(data), out)
    # The label map travels in the file: decoding needs nothing else.
    header = parse_header(people_cars)
    assert header.selective and [s.type for s in header.sections][:2] == [1, 2]


def test_sc_decode_in_tiles_gives_the_untiled_pixels(sc_codec, scene):
    """F (label map -> features) runs in the same row tiles as G, so an SC decode never holds
    the whole one-hot map: through both modules' graphs (the SavedModels' decompress_one) and
    the API driving tiles, one latent row per tile gives the pixels (within one
    level, G's tiles) of the whole image at once."""
    from tfgc.codec import Codec
    from tfgc.export.modules import make_module
    from tfgc.networks import CodecNetworks

    trained = sc_codec.module.networks

    def module(tile_positions: int):
        networks = CodecNetworks(trained.model_config, trained.encoder, trained.quantizer,
                                 trained.generator, trained.semantic_features)
        networks.tile_positions = tile_positions
        return make_module(networks, None,
                           fingerprints=(sc_codec.fingerprint, sc_codec.decoder_fingerprint))

    image = tf.constant(np.asarray(Image.open(scene["image"]).convert("RGB")))
    seed, limit = tf.constant(0, tf.int64), tf.constant(10**6, tf.int64)
    maps = tf.constant(scene["train_ids"]), tf.constant(scene["mask"])
    whole, tiled = module(1 << 40), module(10)  # latent 5 x 7: one latent row per tile
    data = whole.compress_one(image, seed, *maps)
    expected = whole.decompress_one(data, limit).numpy().astype(int)
    got = tiled.decompress_one(data, limit).numpy()
    assert got.shape == expected.shape == (72, 104, 3)
    assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3
    # The API drives the encoder's 5 tiles, then G's 5 for the colour offset: the same file.
    driven, calls = Codec(tiled, "tiled"), []
    assert driven.compress_with_stats(
        scene["image"], labels=scene["labels"], preserve_mask=scene["mask"],
        tile_progress=lambda *c: calls.append(c)).data == data.numpy()
    assert calls == [(i, 10) for i in range(1, 11)]
    calls.clear()
    np.testing.assert_array_equal(driven.decompress(
        data.numpy(), tile_progress=lambda *c: calls.append(c)), got)
    assert calls == [(i, 5) for i in range(1, 6)]


def test_a_file_whose_label_map_holds_unknown_classes_is_refused(sc_codec, scene):
    """A crafted label-map section (a valid PNG of train id 200) is a bad file, not ignored
    pixels: the decode graph (the API's and both SavedModels') checks it against the model."""
    data = sc_codec.compress(scene["image"], labels=scene["labels"], preserve=PRESERVED)
    header = parse_header(data)
    mask, labels = header.sections[:2]  # (then the colour offset, if any)
    start = fmt.FIXED_HEADER_BYTES + 1 + 2 * fmt.SECTION_HEADER.size + len(mask.data)
    bad_png = tf.io.encode_png(np.full((*scene["ids"].shape, 1), 200, np.uint8)).numpy()
    bad = fix_crc(data[:start - fmt.SECTION_HEADER.size]
                  + fmt.SECTION_HEADER.pack(fmt.SECTION_LABEL_MAP, 1, len(bad_png)) + bad_png
                  + data[start + len(labels.data):])
    assert parse_header(bad).sections[1].data == bad_png  # well formed: only the ids are wrong
    with pytest.raises(BitstreamError, match="train id 200"):
        sc_codec.decompress(bad)


def _api_mistakes(scene) -> dict[str, dict]:
    """Bad SC inputs, as Codec.compress arguments; the SavedModel cases below make the same
    mistakes in their own input format (train ids)."""
    ids, mask = scene["ids"], scene["mask"]
    return {
        "label map size": {"labels": ids[:, 1:], "preserve": PRESERVED},
        "label map ids": {"labels": np.where(ids == 26, 300, ids).astype(np.uint16),
                          "preserve": PRESERVED},
        "label map dtype": {"labels": ids.astype(np.float32), "preserve": PRESERVED},
        "preserve mask size": {"labels": ids, "preserve_mask": mask[1:]},
    }


def test_api_refuses_bad_sc_inputs(sc_codec, codec, scene, tmp_path):
    image, labels = scene["image"], scene["labels"]
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((72, 100), np.uint8)).save(small)
    with pytest.raises(ConfigError, match="label map is 100x72 but the image is 104x72"):
        sc_codec.compress(image, labels=small, preserve="car")
    for name, arguments in _api_mistakes(scene).items():
        with pytest.raises(ConfigError) as info:
            sc_codec.compress(image, **arguments)
        print(f"{name}: {info.value}")
    with pytest.raises(ConfigError, match=r"'pedestrian'.*known: road, sidewalk"):
        sc_codec.compress(image, labels=labels, preserve="pedestrian")
    with pytest.raises(ConfigError, match="exactly one"):
        sc_codec.compress(image, labels=labels)
    with pytest.raises(ConfigError, match="label map"):
        sc_codec.compress(image)
    Image.fromarray(np.zeros((72, 104, 3), np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(ImageReadError, match="single-channel"):
        sc_codec.compress(image, labels=tmp_path / "colour.png", preserve="car")
    with pytest.raises(ConfigError, match=r"GC model.*labels"):
        codec.compress(image, labels=labels, preserve="car")
    # Check `selective` of format.CHECKS: the message comes from the format, not the codec.
    with pytest.raises(ModelMismatchError) as info:
        codec.decompress(sc_codec.compress(image, labels=labels, preserve="car"))
    assert str(info.value) == fmt.selective_mismatch_message(True)
    with pytest.raises(ModelMismatchError) as info:
        sc_codec.decompress(codec.compress(image))
    assert str(info.value) == fmt.selective_mismatch_message(False)


def _run(args, **kwargs):
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600, **kwargs)


@pytest.mark.slow
def test_cli_round_trip_and_errors(sc_export, sc_exported, export_dir, scene, tmp_path):
    """The SC options of `python -m tfgc` on the exports, against the API on the same export."""
    exported = sc_exported
    image, labels = scene["image"], scene["labels"]
    out = tmp_path / "scene.tfgc"
    result = _run(["compress", image, "--labels", labels, "--preserve", PRESERVED,
                   "-o", str(out), "--model", sc_export])
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == exported.compress(image, labels=labels, preserve=PRESERVED)
    png = tmp_path / "scene.png"
    result = _run(["decompress", str(out), "-o", str(png), "--model", sc_export])
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(png)),
                                  exported.decompress(out.read_bytes()))
    info = _run(["info", str(out)])
    assert "label map (type 2)" in info.stdout and "preservation mask (type 1)" in info.stdout

    # Mistakes: the same commands, run by `main` in this process (the commands above proved
    # the entry point; this saves a TensorFlow start each).
    code, stderr = tfgc_here("compress", image, "--labels", labels, "--preserve", "pedestrian",
                             "-o", str(tmp_path / "x.tfgc"), "--model", sc_export)
    assert code == 1 and "known: road, sidewalk" in stderr
    assert "Traceback" not in stderr
    code, stderr = tfgc_here("compress", image, "--labels", labels, "--preserve", "car", "-o",
                             str(tmp_path / "y.tfgc"), "--model", export_dir)
    assert code == 1 and "GC model" in stderr and "Traceback" not in stderr
    code, stderr = tfgc_here("decompress", str(out), "-o", str(tmp_path / "z.png"), "--model",
                             export_dir)
    assert code == 1 and "Traceback" not in stderr
    assert fmt.selective_mismatch_message(True) in stderr


# A client of one export tree (full or stock) in a fresh process: plain TF (and, for the full
# export, tensorflow-compression's ops), no tfgc. Writes what it saw as JSON.
_SERVE = """
import json, sys, numpy as np, tensorflow as tf
{block}
inputs = np.load({inputs!r})
image, train_ids, mask = inputs['image'][None], inputs['train_ids'][None], inputs['mask'][None]
sc, gc = tf.saved_model.load({sc!r}), tf.saved_model.load({gc!r})
compress = sc.signatures['compress']
seen = {{}}

def attempt(name, function, **arguments):
    try:
        function(**{{k: tf.constant(v) for k, v in arguments.items()}})
        seen[name] = None
    except tf.errors.InvalidArgumentError as e:
        seen[name] = ['InvalidArgumentError', e.message]
    except (TypeError, ValueError) as e:
        seen[name] = [type(e).__name__, str(e)[:300]]

data = compress(image=tf.constant(image), label_map=tf.constant(train_ids),
                preserve_mask=tf.constant(mask))['bitstring_bytes'].numpy()[0]
pixels = sc.signatures['decompress'](bitstring=tf.constant([data]))['image'].numpy()[0]
two = compress(image=tf.constant(np.concatenate([image, image])),
               label_map=tf.constant(np.concatenate([train_ids, train_ids])),
               preserve_mask=tf.constant(np.concatenate([mask, mask])))
assert list(two['bitstring_bytes'].numpy()) == [data, data]  # a batch: one file per image
bad_ids = np.where(train_ids == 13, 200, train_ids).astype(np.uint8)  # cars: no such class
attempt('label map size', compress, image=image, label_map=train_ids[:, :, 1:],
        preserve_mask=mask)
attempt('label map ids', compress, image=image, label_map=bad_ids, preserve_mask=mask)
attempt('label map dtype', compress, image=image, label_map=train_ids.astype(np.float32),
        preserve_mask=mask)
attempt('preserve mask size', compress, image=image, label_map=train_ids,
        preserve_mask=mask[:, 1:])
attempt('one label map for two images', compress, image=np.concatenate([image, image]),
        label_map=train_ids, preserve_mask=np.concatenate([mask, mask]))
attempt('SC file to GC model', gc.signatures['decompress'], bitstring=[data])
attempt('GC file to SC model', sc.signatures['decompress'], bitstring=[inputs['gc_file'].tobytes()])
result = {{'data': data.hex(), 'two_files': True}}
if 'synthesis' in sc.signatures:  # stock: symbols, label map and latent mask in, image out
    symbols = sc.signatures['analysis'](image=tf.constant(image))['symbols']
    h, w = symbols.shape[1:3]
    padded = np.pad(train_ids, [(0, 0), (0, 16 * h - image.shape[1]),
                                (0, 16 * w - image.shape[2])], mode='edge')
    latent_mask = inputs['latent_mask'][None]
    synthesis = sc.signatures['synthesis']
    one = synthesis(symbols=symbols, noise_seed=tf.constant([0], tf.int64),
                    label_map=tf.constant(padded), latent_mask=tf.constant(latent_mask))
    two = synthesis(symbols=tf.concat([symbols, symbols], 0),
                    noise_seed=tf.constant([0, 0], tf.int64),
                    label_map=tf.constant(np.concatenate([padded, padded])),
                    latent_mask=tf.constant(np.concatenate([latent_mask, latent_mask])))
    np.save({synthesis_out!r}, np.concatenate([one['image'].numpy(), two['image'].numpy()]))
    attempt('synthesis label map size', synthesis, symbols=symbols,
            noise_seed=np.zeros([1], np.int64), label_map=padded[:, :-16],
            latent_mask=latent_mask)
    attempt('synthesis label map ids', synthesis, symbols=symbols,
            noise_seed=np.zeros([1], np.int64), label_map=np.full_like(padded, 19),
            latent_mask=latent_mask)
    attempt('synthesis latent mask size', synthesis, symbols=symbols,
            noise_seed=np.zeros([1], np.int64), label_map=padded,
            latent_mask=latent_mask[:, :, 1:])
np.save({pixels_out!r}, pixels)
result['seen'] = seen
print(json.dumps(result))
"""

_GUARD_TFC = ("import builtins; real = builtins.__import__\n"
              "def guard(name, *a, **k):\n"
              "    assert not name.startswith(('tensorflow_compression', 'tfgc')), name\n"
              "    return real(name, *a, **k)\n"
              "builtins.__import__ = guard")
# What the API raises for the same mistake (see _api_mistakes); the graphs must agree.
_SAME_MISTAKE = {"label map size": "label map size", "label map ids": "label map ids",
                 "label map dtype": "label map dtype",
                 "preserve mask size": "preserve mask size",
                 "one label map for two images": "label map size",
                 "synthesis label map size": "label map size",
                 "synthesis label map ids": "label map ids",
                 "synthesis latent mask size": "preserve mask size"}


def _graph_error(message: str) -> TfgcError:
    return error_from_graph(tf.errors.InvalidArgumentError(None, None, message))


@pytest.fixture(scope="module")
def sc_served(sc_export, sc_exported, export_dir, codec, scene, tmp_path_factory):
    """Both export trees as clients in one fresh process of plain TF, the stock one first with
    tfc's import refused (so it is proven not to need tfc), then the full one with tfc: the
    file the API writes, and tree -> (what _SERVE printed, the folder of its outputs)."""
    folder = tmp_path_factory.mktemp("sc_served")
    expected = sc_exported.compress(scene["image"], labels=scene["labels"], preserve=PRESERVED)
    header = parse_header(expected)
    assert header.selective
    np.savez(folder / "inputs.npz", image=np.asarray(Image.open(scene["image"]).convert("RGB")),
             train_ids=scene["train_ids"], mask=scene["mask"],
             latent_mask=np.array(header.preserve_mask(), np.uint8),
             gc_file=np.frombuffer(codec.compress(scene["image"]), np.uint8))
    trees = ("tfgc_stock", "tfgc")
    code = []
    for tree in trees:
        os.makedirs(folder / tree)
        block = "import tensorflow_compression" if tree == "tfgc" else _GUARD_TFC
        code.append(_SERVE.format(block=block, inputs=str(folder / "inputs.npz"),
                                  sc=os.path.join(sc_export, tree, "1"),
                                  gc=os.path.join(export_dir, tree, "1"),
                                  pixels_out=str(folder / tree / "pixels.npy"),
                                  synthesis_out=str(folder / tree / "synthesis.npy")))
    served = subprocess.run([sys.executable, "-c", "\nbuiltins.__import__ = real\n".join(code)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert served.returncode == 0, served.stderr[-3000:]
    lines = served.stdout.strip().splitlines()[-len(trees):]
    return expected, {tree: (json.loads(line), folder / tree) for tree, line in zip(trees, lines)}


@pytest.mark.slow
@pytest.mark.parametrize("tree", ["tfgc", "tfgc_stock"])
def test_exports_in_a_fresh_process(tree, sc_served, sc_exported, scene):
    """Each export tree loaded by plain TF (the stock one without tfc): compress with label map
    and mask (same bytes as the API, one file per image in a batch), decompress (same pixels),
    bad inputs classified like the API's, mode mismatches with the format's message, and the
    stock `synthesis` against the full export's decompress (documented: exact for N = 1,
    within 1 for a batch)."""
    exported = sc_exported  # the Python API on the full export
    expected, served = sc_served
    result, outputs = served[tree]
    assert bytes.fromhex(result["data"]) == expected
    decoded = exported.decompress(expected)
    np.testing.assert_array_equal(np.load(outputs / "pixels.npy"), decoded)

    seen = result["seen"]
    api_errors = {}
    for name, arguments in _api_mistakes(scene).items():
        with pytest.raises(TfgcError) as info:
            exported.compress(scene["image"], **arguments)
        api_errors[name] = info.value
    for name, mistake in _SAME_MISTAKE.items():
        if name.startswith("synthesis") and tree == "tfgc":
            continue
        kind, message = seen[name]
        assert kind == "InvalidArgumentError", (name, seen[name])
        error = _graph_error(message)
        assert type(error) is type(api_errors[mistake]), (name, error, api_errors[mistake])
        print(f"{tree} {name}: {type(error).__name__}: {error}")  # dtype: by the signature
    for name, file_selective in (("SC file to GC model", True), ("GC file to SC model", False)):
        error = _graph_error(seen[name][1])
        assert isinstance(error, ModelMismatchError), (name, error)
        assert str(error) == fmt.selective_mismatch_message(file_selective)

    if tree == "tfgc_stock":  # symbols in, so without the file's colour offset
        from tests.test_colour_offset import without_colour_offset

        plain = exported.decompress(without_colour_offset(expected))
        images = np.load(outputs / "synthesis.npy")[:, :72, :104]
        np.testing.assert_array_equal(images[0], plain)
        for image in images[1:]:
            assert np.abs(image.astype(int) - plain).max() <= 1


@pytest.mark.slow
def test_demo_sc_mode_with_the_bundled_sc_model(tmp_path):
    result = _run(["demo", "--mode", "sc", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "person,car kept" in result.stdout and "saves" in result.stdout
    panel = np.asarray(Image.open(tmp_path / "scene_sc_side_by_side.png"))
    assert panel.shape[1] > 4 * 512  # original, GC, SC everything kept, SC people and cars
    data = (tmp_path / "scene_sc.tfgc").read_bytes()
    header = parse_header(data)
    assert header.selective and 0 < np.mean(header.preserve_mask()) < 0.5
