"""SC models end to end: Python API, CLI and both SavedModels (fresh processes), bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.test_semantic_model import semantic_config
from tfgc.coding import parse_header
from tfgc.errors import ConfigError, ImageReadError, ModelMismatchError
from tfgc.semantic import scenes


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """One procedural scene (image and Cityscapes label ids) of an odd size, and its root."""
    root = str(tmp_path_factory.mktemp("sc_scenes"))
    paths = scenes.write_scenes(root, 3, 72, 104, seed=5)
    return root, paths[0]


@pytest.fixture(scope="module")
def sc_workdir(scene, tmp_path_factory):
    """A tiny SC model after one training step (random-instance masks)."""
    from tfgc.training.trainer import train

    config = semantic_config("sc")
    config.data.train = scene[0]
    config.num_steps = config.warmup_steps = 1
    config.data.num_eval_images = 1
    path = str(tmp_path_factory.mktemp("sc_run"))
    train(config, path)
    return path


@pytest.fixture(scope="module")
def sc_codec(sc_workdir):
    from tfgc.codec import load_codec

    return load_codec(sc_workdir)


def test_api_round_trip_and_only_preserved_latents_coded(sc_codec, scene):
    image, labels = scene[1]["image"], scene[1]["labels"]
    ids = np.asarray(Image.open(labels))
    everything = sc_codec.compress(image, labels=labels, preserve_mask=np.ones_like(ids))
    people_cars = sc_codec.compress(image, labels=labels, preserve="person,car")
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
    assert header.selective and {s.type for s in header.sections} == {1, 2}


def test_api_refuses_bad_sc_inputs(sc_codec, codec, scene, tmp_path):
    image, labels = scene[1]["image"], scene[1]["labels"]
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((72, 100), np.uint8)).save(small)
    with pytest.raises(ConfigError, match="label map is 100x72 but the image is 104x72"):
        sc_codec.compress(image, labels=small, preserve="car")
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
    data = sc_codec.compress(image, labels=labels, preserve="car")
    with pytest.raises(ModelMismatchError, match="selective-compression"):
        codec.decompress(data)


def _run(args, **kwargs):
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600, **kwargs)


@pytest.mark.slow
def test_cli_round_trip_and_errors(sc_workdir, sc_codec, codec, workdir, scene, tmp_path):
    image, labels = scene[1]["image"], scene[1]["labels"]
    out = tmp_path / "scene.tfgc"
    result = _run(["compress", image, "--labels", labels, "--preserve", "person,car",
                   "-o", str(out), "--model", sc_workdir])
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == sc_codec.compress(image, labels=labels, preserve="person,car")
    png = tmp_path / "scene.png"
    result = _run(["decompress", str(out), "-o", str(png), "--model", sc_workdir])
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(png)),
                                  sc_codec.decompress(out.read_bytes()))
    info = _run(["info", str(out)])
    assert "label map (type 2)" in info.stdout and "preservation mask (type 1)" in info.stdout

    bad = _run(["compress", image, "--labels", labels, "--preserve", "pedestrian", "-o",
                str(tmp_path / "x.tfgc"), "--model", sc_workdir])
    assert bad.returncode == 1 and "known: road, sidewalk" in bad.stderr
    assert "Traceback" not in bad.stderr
    gc = _run(["compress", image, "--labels", labels, "--preserve", "car", "-o",
               str(tmp_path / "y.tfgc"), "--model", workdir])
    assert gc.returncode == 1 and "GC model" in gc.stderr and "Traceback" not in gc.stderr
    sc_to_gc = _run(["decompress", str(out), "-o", str(tmp_path / "z.png"), "--model", workdir])
    assert sc_to_gc.returncode == 1 and "selective-compression" in sc_to_gc.stderr


_SERVE = """
import sys, numpy as np, tensorflow as tf
from PIL import Image
{block}
model = tf.saved_model.load({path!r})
image = np.asarray(Image.open({image!r}).convert('RGB'))[None]
ids = np.asarray(Image.open({labels!r}))
lookup = np.full(256, 255, np.uint8)
for label_id, train_id in {lookup!r}:
    lookup[label_id] = train_id
train_ids = lookup[ids][None]
mask = np.isin(train_ids, [11, 13]).astype(np.uint8)
out = model.signatures['compress'](image=tf.constant(image), label_map=tf.constant(train_ids),
                                   preserve_mask=tf.constant(mask))
data = out['bitstring_bytes'].numpy()[0]
pixels = model.signatures['decompress'](bitstring=tf.constant([data]))['image'].numpy()[0]
# A batch of two: the same scene twice gives the same file twice.
two = model.signatures['compress'](image=tf.constant(np.concatenate([image, image])),
                                   label_map=tf.constant(np.concatenate([train_ids, train_ids])),
                                   preserve_mask=tf.constant(np.concatenate([mask, mask])))
assert list(two['bitstring_bytes'].numpy()) == [data, data]
np.save({result!r}, pixels)
sys.stdout.buffer.write(data)
"""


@pytest.mark.slow
def test_both_exports_take_label_map_and_mask(sc_workdir, scene, tmp_path):
    from tfgc.semantic.labels import CITYSCAPES_LABELS

    image, labels = scene[1]["image"], scene[1]["labels"]
    export_dir = tmp_path / "export"
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "export.py"),
                             f"--workdir={sc_workdir}", f"--export_dir={export_dir}"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from tfgc.codec import load_codec

    exported = load_codec(str(export_dir))  # the Python API on the full export
    expected = exported.compress(image, labels=labels, preserve="person,car")
    assert parse_header(expected).selective
    lookup = [(label.id, label.train_id) for label in CITYSCAPES_LABELS]
    block_tfc = ("import builtins; real = builtins.__import__\n"
                 "def guard(name, *a, **k):\n"
                 "    assert not name.startswith('tensorflow_compression'), name\n"
                 "    return real(name, *a, **k)\n"
                 "builtins.__import__ = guard")
    for name, block in (("tfgc", "import tensorflow_compression"), ("tfgc_stock", block_tfc)):
        path = str(export_dir / name / "1")
        code = _SERVE.format(block=block, path=path, image=image, labels=labels, lookup=lookup,
                             result=str(tmp_path / f"{name}.npy"))
        served = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                cwd=REPO_ROOT, timeout=600)
        assert served.returncode == 0, served.stderr.decode()[-3000:]
        assert served.stdout == expected, name
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"),
                                      exported.decompress(expected))


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
