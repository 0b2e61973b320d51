"""Label-map data: procedural scenes, Cityscapes/ADE20K layouts, joint augmentation, masks."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfgc.config import check_semantic
from tfgc.data import labeled
from tfgc.errors import ConfigError, DataError
from tfgc.semantic import masks, scenes
from tfgc.semantic.labels import CITYSCAPES_LABELS, IGNORE, label_set

# Label set used by the synthetic "label is a function of the pixel" datasets below.
_IDS = [7, 8, 11, 21, 23, 24, 26]  # road, sidewalk, building, vegetation, sky, person, car


def _colour(label_id: int) -> np.ndarray:
    return np.array([label_id * 7 % 256, 255 - label_id * 5, label_id * 3], np.uint8)


def _write_function_dataset(root, size=(48, 80), count=3, seed=0):
    """Cityscapes layout where every pixel's colour determines its label and its instance."""
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(count):
        blocks = rng.integers(0, len(_IDS), (h // 8 + 1, w // 8 + 1))
        ids = np.array(_IDS)[np.kron(blocks, np.ones((8, 8), int))[:h, :w]]
        paths = scenes.scene_paths(str(root), "train", i)
        for p in paths.values():
            os.makedirs(os.path.dirname(p), exist_ok=True)
        Image.fromarray(np.stack([_colour(v) for v in ids.ravel()]).reshape(h, w, 3)).save(
            paths["image"])
        Image.fromarray(ids.astype(np.uint8)).save(paths["labels"])
        Image.fromarray((ids * 1000 + 1).astype(np.uint16)).save(paths["instances"])


def _train_ids_from_pixels(images: np.ndarray) -> np.ndarray:
    lookup = label_set("cityscapes").lookup()
    palette = np.stack([_colour(v) for v in _IDS]).astype(np.int32)
    distance = np.abs(images[..., None, :].astype(np.int32) - palette).sum(-1)
    return lookup[np.array(_IDS)[distance.argmin(-1)]]


def test_scenes_are_deterministic_and_use_cityscapes_ids(tmp_path):
    a = scenes.write_scenes(str(tmp_path / "a"), 2, 64, 128, seed=3)
    b = scenes.write_scenes(str(tmp_path / "b"), 2, 64, 128, seed=3)
    c = scenes.write_scenes(str(tmp_path / "c"), 1, 64, 128, seed=4)
    def read(path):
        with open(path, "rb") as f:
            return f.read()

    for pa, pb in zip(a, b):
        for key in pa:
            assert read(pa[key]) == read(pb[key])
    assert read(a[0]["image"]) != read(c[0]["image"])
    labels = np.asarray(Image.open(a[0]["labels"]))
    instances = np.asarray(Image.open(a[0]["instances"])).astype(np.int64)
    assert set(np.unique(labels)) <= {label.id for label in CITYSCAPES_LABELS}
    assert {23, 11, 7, 8} <= set(np.unique(labels))  # sky, building, road, sidewalk
    things = instances >= 1000
    np.testing.assert_array_equal(np.where(things, instances // 1000, instances), labels)
    assert set(np.unique(labels[things])) <= {24, 26}  # only people and cars have instances


def test_scenes_command_writes_the_layout(tmp_path):
    assert scenes.main([str(tmp_path), "--num", "2", "--height", "32", "--width", "64"]) == 0
    files = labeled.find_labeled(str(tmp_path), "cityscapes")
    assert len(files.images) == 2 and not files.skipped
    assert Image.open(files.images[0]).size == (64, 32)


@pytest.mark.parametrize("cache", [True, False])  # decoded once / after the resume skip
@pytest.mark.parametrize("size", [(48, 80), (24, 40)])  # larger than the crop / upscaled
def test_joint_augmentation_keeps_pixels_and_labels_aligned(tmp_path, size, cache):
    _write_function_dataset(tmp_path, size)
    files = labeled.find_labeled(str(tmp_path), "cityscapes")
    ds = labeled.labeled_train_dataset(files, 32, 4, seed=1, preserve="ri", cache=cache,
                                       start_step=2)
    k = files.label_set.num_classes
    agreement = []
    for batch in ds.take(6):
        images = np.round(batch["image"].numpy() * 255).astype(np.uint8)
        one_hot = batch["label_map"].numpy()
        assert one_hot.shape == (4, 32, 32, k) and set(np.unique(one_hot)) <= {0.0, 1.0}
        train_ids = np.where(one_hot.sum(-1) > 0, one_hot.argmax(-1), IGNORE)
        agreement.append(np.mean(train_ids == _train_ids_from_pixels(images)))
        mask = batch["preserve_mask"].numpy()[..., 0]
        # RI: each instance (here: each class) is preserved entirely or not at all.
        for b in range(4):
            for t in np.unique(train_ids[b]):
                assert len(np.unique(mask[b][train_ids[b] == t])) == 1
    if size == (48, 80):  # no resize: exact
        assert min(agreement) == 1.0
    else:  # bilinear pixels vs nearest labels differ only on block edges
        assert min(agreement) > 0.9


def test_missing_and_mismatched_pairs_are_skipped_or_fatal(tmp_path):
    _write_function_dataset(tmp_path, count=3)
    first = scenes.scene_paths(str(tmp_path), "train", 0)
    second = scenes.scene_paths(str(tmp_path), "train", 1)
    os.remove(first["labels"])
    Image.new("L", (10, 10)).save(second["labels"])
    files = labeled.find_labeled(str(tmp_path), "cityscapes")
    assert len(files.images) == 1 and len(files.skipped) == 2
    reasons = " ".join(reason for _, reason in files.skipped)
    assert "missing" in reasons and first["labels"] in reasons and "sizes differ" in reasons
    with pytest.raises(DataError, match=r"missing .*labelIds\.png"):
        labeled.find_labeled(str(tmp_path), "cityscapes", on_corrupt="fail")
    with pytest.raises(DataError, match="no cityscapes images"):
        labeled.find_labeled(str(tmp_path), "cityscapes", split="val")


def test_ade20k_layout_has_150_classes_and_ignores_other(tmp_path):
    """A synthetic folder in the ADE20K layout (no ADE20K data is available here)."""
    for split in ("training",):
        os.makedirs(tmp_path / "images" / split / "a")
        os.makedirs(tmp_path / "annotations" / split / "a")
        pixels = np.zeros((32, 32, 3), np.uint8)
        Image.fromarray(pixels).save(tmp_path / "images" / split / "a" / "x.jpg")
        annotation = np.zeros((32, 32), np.uint8)
        annotation[:, 16:] = 150  # flag
        annotation[:16, :16] = 3  # sky
        Image.fromarray(annotation).save(tmp_path / "annotations" / split / "a" / "x.png")
    files = labeled.find_labeled(str(tmp_path), "ade20k")
    batch = next(iter(labeled.labeled_eval_dataset(files, 32, 1)))
    one_hot = batch["label_map"].numpy()[0]
    assert one_hot.shape == (32, 32, 150)
    assert one_hot[0, 20, 149] == 1 and one_hot[0, 0, 2] == 1
    assert one_hot[20, 0].sum() == 0  # 0 = "other": ignored
    # No instance maps in this layout: random-instance masks (RI) keep whole classes.
    train = labeled.labeled_train_dataset(files, 32, 1, seed=3, preserve="ri")
    for batch in train.take(4):
        mask = batch["preserve_mask"].numpy()[0, ..., 0]
        ids = np.where(batch["label_map"].numpy()[0].sum(-1) > 0,
                       batch["label_map"].numpy()[0].argmax(-1), IGNORE)
        for t in np.unique(ids):
            assert len(np.unique(mask[ids == t])) == 1


def test_random_box_and_latent_masks():
    for i in range(20):
        box = masks.random_box_mask(40, 64, tf.constant([0, i])).numpy()[..., 0]
        rows, cols = np.nonzero(box)
        assert len(rows) > 0
        # A box: the filled area is the product of its row and column extents.
        assert box.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    pixel = np.zeros((1, 32, 48, 1), np.float32)
    pixel[0, 17, 40] = 1
    latent = masks.to_latent(pixel, 16).numpy()[0, ..., 0]
    np.testing.assert_array_equal(latent, [[0, 0, 0], [0, 0, 1]])
    nothing = masks.random_training_mask("all_synthesised", tf.zeros([8, 8], tf.int32),
                                         tf.constant([0, 0]))
    assert nothing.numpy().sum() == 0


def test_class_names_unknown_lists_known():
    with pytest.raises(ConfigError, match=r"unknown cityscapes class name.*'pedestrian'.*person"):
        label_set("cityscapes").class_ids("person,pedestrian")
    assert label_set("cityscapes").class_ids("person, car") == [11, 13]


def test_semantic_config_validation(config):
    check_semantic(config)  # plain GC
    config.model.condition_channels = 19
    with pytest.raises(ConfigError, match="gc_dplus or sc"):
        check_semantic(config)
    config.model.mode = "sc"
    with pytest.raises(ConfigError, match=r"data\.layout"):
        check_semantic(config)
    config.data.layout = "ade20k"
    with pytest.raises(ConfigError, match=r"model\.label_set must name"):
        check_semantic(config)
    config.model.label_set = "ade20k"
    with pytest.raises(ConfigError, match="must be 150"):
        check_semantic(config)
    config.model.condition_channels = 150
    config.data.preserve_mode = "everything"
    with pytest.raises(ConfigError, match="preserve_mode"):
        check_semantic(config)
    config.model.mode = "dplus"
    with pytest.raises(ConfigError, match=r"model\.mode"):
        check_semantic(config)


def test_user_label_maps_and_preserve_options(tmp_path):
    from tfgc.errors import ImageReadError
    from tfgc.semantic.inputs import Preserve, preserve_mask, read_label_map

    cityscapes = label_set("cityscapes")
    ids = np.full((32, 48), 23, np.uint8)  # sky
    ids[20:, 10:20] = 26  # a car
    ids[0, 0] = 0  # unlabeled
    path = tmp_path / "labels.png"
    Image.fromarray(ids).save(path)
    train_ids = read_label_map(path, cityscapes, (32, 48))
    assert train_ids[0, 0] == IGNORE and train_ids[0, 1] == 10 and train_ids[25, 15] == 13
    with pytest.raises(ConfigError, match="label map is 48x32 but the image is 50x32"):
        read_label_map(path, cityscapes, (32, 50))
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(ImageReadError, match="labelIds"):
        read_label_map(tmp_path / "colour.png", cityscapes, (32, 48))

    cars = preserve_mask(Preserve(classes="car"), train_ids, cityscapes)
    np.testing.assert_array_equal(cars, (ids == 26).astype(np.uint8))
    box = preserve_mask(Preserve(box="4,2,10,8"), train_ids, cityscapes)
    assert box.sum() == 36 and box[2, 4] == 1 and box[8, 10] == 0
    with pytest.raises(ConfigError, match="X0,Y0,X1,Y1"):
        preserve_mask(Preserve(box="1,2,3"), train_ids, cityscapes)
    with pytest.raises(ConfigError, match="0 <= X0 < X1 <= 48"):
        preserve_mask(Preserve(box="0,0,49,5"), train_ids, cityscapes)
    Image.fromarray((ids == 23).astype(np.uint8) * 255).save(tmp_path / "mask.png")
    sky = preserve_mask(Preserve(mask=tmp_path / "mask.png"), train_ids, cityscapes)
    np.testing.assert_array_equal(sky, (ids == 23).astype(np.uint8))
    with pytest.raises(ConfigError, match="exactly one"):
        preserve_mask(Preserve(classes="car", box="0,0,1,1"), train_ids, cityscapes)
    with pytest.raises(ConfigError, match="known: road, sidewalk"):
        preserve_mask(Preserve(classes="cars"), train_ids, cityscapes)
