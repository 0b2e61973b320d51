"""Images with semantic label maps: the Cityscapes and ADE20K layouts as tf.data pipelines.

Cityscapes: `leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png` with
`gtFine/<split>/<city>/<stem>_gtFine_labelIds.png` and `..._instanceIds.png`.
ADE20K (SceneParsing): `images/<split>/**/<stem>.jpg` with `annotations/<split>/**/<stem>.png`
(values 1..150, 0 = other); it has no instance maps, so each class counts as one instance.

Image, label map and instance map are resized (bilinear / nearest / nearest), cropped and
flipped together, then the label map becomes one-hot train ids (ignored pixels: all zeros).
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field

import tensorflow as tf
from PIL import Image

from tfgc.data.pipeline import example_stream
from tfgc.errors import ConfigError, DataError
from tfgc.networks.semantic import one_hot_labels
from tfgc.semantic import masks
from tfgc.semantic.labels import IGNORE, LabelSet, label_set

log = logging.getLogger(__name__)

LAYOUTS = ("cityscapes", "ade20k")
DEFAULT_SPLITS = {"cityscapes": ("train", "val"), "ade20k": ("training", "validation")}


@dataclass
class LabeledFiles:
    images: list[str]
    labels: list[str]
    instances: list[str]  # "" where the layout has no instance maps
    label_set: LabelSet
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _pairs(root: str, layout: str, split: str) -> list[tuple[str, str, str]]:
    if layout == "cityscapes":
        images = sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*",
                                               "*_leftImg8bit.png")))
        out = []
        for image in images:
            stem = os.path.basename(image)[: -len("_leftImg8bit.png")]
            gt = os.path.join(root, "gtFine", split, os.path.basename(os.path.dirname(image)))
            out.append((image, os.path.join(gt, f"{stem}_gtFine_labelIds.png"),
                        os.path.join(gt, f"{stem}_gtFine_instanceIds.png")))
        return out
    base = os.path.join(root, "images", split)
    images = sorted(p for p in glob.glob(os.path.join(base, "**", "*"), recursive=True)
                    if p.lower().endswith((".jpg", ".jpeg", ".png")))
    return [(image, os.path.splitext(os.path.join(
        root, "annotations", split, os.path.relpath(image, base)))[0] + ".png", "")
        for image in images]


def _check(image: str, labels: str, instances: str) -> None:
    """Raises with a reason if the triple cannot be used (missing, corrupt, sizes differ)."""
    sizes = {}
    for path in (image, labels, instances):
        if not path:
            continue
        if not os.path.exists(path):
            raise DataError(f"missing {path} (the partner of {image})")
        try:
            with Image.open(path) as im:
                im.load()
                sizes[path] = im.size
        except Exception as e:  # PIL raises many types for bad files
            raise DataError(f"corrupt file {path}: {e}") from None
    if len(set(sizes.values())) > 1:
        raise DataError("image and label sizes differ: " + ", ".join(
            f"{os.path.basename(p)} {w}x{h}" for p, (w, h) in sizes.items()))


def find_labeled(root: str, layout: str, split: str = "", on_corrupt: str = "skip"
                 ) -> LabeledFiles:
    """Lists and checks every (image, label map[, instance map]) triple of a split.

    A missing, unreadable or differently sized partner is skipped and counted, or with
    on_corrupt="fail" reported by name.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown dataset layout {layout!r}; choose from {LAYOUTS}")
    if on_corrupt not in ("skip", "fail"):
        raise ConfigError(f"data.on_corrupt must be 'skip' or 'fail', got {on_corrupt!r}")
    if not root:
        raise ConfigError(f"data.layout={layout!r} needs the dataset root in data.train")
    split = split or DEFAULT_SPLITS[layout][0]
    triples = _pairs(root, layout, split)
    if not triples:
        where = ("leftImg8bit/{split}/<city>/*_leftImg8bit.png" if layout == "cityscapes"
                 else "images/{split}/").format(split=split)
        raise DataError(f"no {layout} images under {root!r} (expected {where})")
    files = LabeledFiles([], [], [], label_set(layout))
    for image, labels, instances in triples:
        try:
            _check(image, labels, instances)
        except DataError as e:
            if on_corrupt == "fail":
                raise
            files.skipped.append((image, str(e)))
            continue
        files.images.append(image)
        files.labels.append(labels)
        files.instances.append(instances)
    if files.skipped:
        log.warning("skipped %d of %d labelled images, e.g. %s", len(files.skipped),
                    len(triples), files.skipped[0][1])
    if not files.images:
        raise DataError(f"none of the {len(triples)} {layout} images under {root!r} is usable: "
                        f"{files.skipped[0][1]}")
    return files


def _decode(image_path, label_path, instance_path, lookup):
    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    raw = tf.io.decode_png(tf.io.read_file(label_path), channels=1)
    train_ids = tf.gather(lookup, tf.cast(raw[..., 0], tf.int32))
    instances = tf.cond(
        tf.strings.length(instance_path) > 0,
        lambda: tf.cast(tf.io.decode_png(tf.io.read_file(instance_path), channels=1,
                                         dtype=tf.uint16)[..., 0], tf.int32),
        lambda: train_ids)
    return tf.ensure_shape(image, [None, None, 3]), train_ids, instances


def _cover(image, train_ids, instances, size: int):
    """Upscales (aspect kept) so both sides are >= size: bilinear pixels, nearest labels."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(1.0, size / tf.reduce_min(shape))
    new = tf.cast(tf.math.ceil(shape * scale), tf.int32)

    def resize():
        pixels = tf.cast(tf.round(tf.clip_by_value(tf.image.resize(image, new), 0, 255)),
                         tf.uint8)
        maps = tf.image.resize(tf.stack([train_ids, instances], -1), new, method="nearest")
        return pixels, maps[..., 0], maps[..., 1]

    return tf.cond(scale > 1.0, resize, lambda: (image, train_ids, instances))


def joint_random_crop_flip(image, train_ids, instances, size: int, seed: tf.Tensor):
    """The same random crop and left-right flip for the image and both maps (stateless ops:
    `seed` is a shape [2] integer tensor)."""
    stacked = tf.concat([tf.cast(image, tf.int32), train_ids[..., None], instances[..., None]],
                        -1)
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    stacked = tf.image.stateless_random_crop(stacked, [size, size, 5], crop_seed)
    stacked = tf.image.stateless_random_flip_left_right(stacked, flip_seed)
    return tf.cast(stacked[..., :3], tf.uint8), stacked[..., 3], stacked[..., 4]


def _element(image, train_ids, num_classes, mask=None):
    element = {"image": tf.cast(image, tf.float32) / 255.0,
               "label_map": one_hot_labels(train_ids, num_classes)}
    if mask is not None:
        element["preserve_mask"] = mask
    return element


def labeled_train_dataset(files: LabeledFiles, crop_size: int, batch_size: int, seed: int = 0,
                          cache: bool = True, shuffle_buffer: int = 256,
                          preserve: str | None = None, start_step: int = 0) -> tf.data.Dataset:
    """Infinite batches of dicts: image [B, S, S, 3] in [0, 1], label_map one-hot [B, S, S, K],
    and with `preserve` (a masks.TRAIN_MODES entry) preserve_mask [B, S, S, 1] in {0, 1}; from
    training step `start_step` on (see `pipeline.example_stream`)."""
    if crop_size <= 0 or crop_size % 16:
        raise ConfigError(f"data.crop_size must be a positive multiple of 16, got {crop_size}")
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    if preserve is not None and preserve not in masks.TRAIN_MODES:
        raise ConfigError(f"unknown preservation mode {preserve!r}; choose from "
                          f"{masks.TRAIN_MODES}")
    autotune = tf.data.AUTOTUNE
    lookup = tf.constant(files.label_set.lookup())
    k = files.label_set.num_classes
    sources = tf.data.Dataset.from_tensor_slices((files.images, files.labels, files.instances))

    def load(image, labels, instances):
        return _cover(*_decode(image, labels, instances, lookup), crop_size)

    def augment(seed, element):
        crop_seed, mask_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        image, train_ids, instances = joint_random_crop_flip(*element, crop_size, crop_seed)
        mask = (masks.random_training_mask(preserve, instances, mask_seed)
                if preserve is not None else None)
        return _element(image, train_ids, k, mask)

    if cache:
        elements = sources.map(load, num_parallel_calls=autotune).cache()
        return example_stream(elements, len(files.images), augment, batch_size, seed,
                              shuffle_buffer, start_step)
    return example_stream(sources, len(files.images), augment, batch_size, seed,
                          shuffle_buffer, start_step, load=load)


def labeled_eval_dataset(files: LabeledFiles, crop_size: int, num_images: int,
                         preserve: bool = False) -> tf.data.Dataset:
    """Center crops (one batch); with `preserve`, an all-ones preserve_mask (eval PSNR then
    measures the same thing as for GC)."""
    if crop_size <= 0:
        raise ConfigError("labelled evaluation needs data.eval_crop_size > 0")
    n = num_images if num_images > 0 else len(files.images)
    lookup = tf.constant(files.label_set.lookup())
    k = files.label_set.num_classes
    ds = tf.data.Dataset.from_tensor_slices(
        (files.images[:n], files.labels[:n], files.instances[:n]))

    def center(image_path, label_path, instance_path):
        image, train_ids, _ = _cover(*_decode(image_path, label_path, instance_path,
                                                      lookup), crop_size)
        shape = tf.shape(image)
        top, left = (shape[0] - crop_size) // 2, (shape[1] - crop_size) // 2
        image = tf.ensure_shape(image[top:top + crop_size, left:left + crop_size],
                                [crop_size, crop_size, 3])
        train_ids = train_ids[top:top + crop_size, left:left + crop_size]
        mask = tf.ones([crop_size, crop_size, 1]) if preserve else None
        return _element(image, train_ids, k, mask)

    return ds.map(center).batch(len(files.images[:n]))


__all__ = ["IGNORE", "LAYOUTS", "LabeledFiles", "find_labeled", "joint_random_crop_flip",
           "labeled_eval_dataset", "labeled_train_dataset"]
