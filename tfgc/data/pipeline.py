"""tf.data input pipelines for training (random crops) and evaluation (center crops or whole).

Images smaller than the crop are upscaled (bilinear, aspect ratio kept) until they cover it,
rather than padded: padding would teach the model to code borders that no real photo has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import tensorflow as tf
from PIL import Image

from tfgc import assets
from tfgc.data.images import list_images
from tfgc.data.padding import edge_pad
from tfgc.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class ImageFiles:
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


ON_CORRUPT = ("skip", "fail")


def find_images(pattern_or_dir: str, on_corrupt: str = "skip") -> ImageFiles:
    """Lists and checks image files; "" means the sample photos bundled with tfgc.

    Every file is opened and verified up front, so a corrupt file is skipped and counted (or,
    with on_corrupt="fail", reported by name) instead of failing deep inside tf.data.
    """
    if on_corrupt not in ON_CORRUPT:
        raise ConfigError(f"data.on_corrupt must be 'skip' or 'fail', got {on_corrupt!r}")
    source = pattern_or_dir or assets.SAMPLES_DIR
    paths = list_images(source)
    if not paths:
        raise DataError(f"no PNG or JPEG images found at {source!r} (a folder is searched "
                        "recursively; a glob may use **)")
    good, skipped = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                image.load()  # verify() misses truncated pixel data
            good.append(path)
        except Exception as e:  # PIL raises many types for bad files
            if on_corrupt == "fail":
                raise DataError(f"corrupt image {path}: {e}") from None
            skipped.append((path, str(e)))
    if skipped:
        log.warning("skipped %d unreadable image(s) of %d, e.g. %s", len(skipped), len(paths),
                    skipped[0][0])
    if not good:
        raise DataError(f"none of the {len(paths)} image file(s) at {source!r} could be decoded")
    return ImageFiles(good, skipped)


def _decode(path: tf.Tensor) -> tf.Tensor:
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def _cover(image: tf.Tensor, size: int) -> tf.Tensor:
    """Upscales so both sides are >= size, keeping the aspect ratio."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(1.0, size / tf.reduce_min(shape))
    new_shape = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    return tf.cond(scale > 1.0,
                   lambda: tf.cast(tf.round(tf.clip_by_value(
                       tf.image.resize(image, new_shape), 0, 255)), tf.uint8),
                   lambda: image)


def train_dataset(files: ImageFiles, crop_size: int, batch_size: int, seed: int = 0,
                  cache: bool = True, shuffle_buffer: int = 256,
                  start_step: int = 0) -> tf.data.Dataset:
    """Infinite batches of random crops, float32 [B, crop, crop, 3] in [0, 1], from training
    step `start_step` on (see `example_stream`)."""
    if crop_size <= 0 or crop_size % 16:
        raise ConfigError(f"data.crop_size must be a positive multiple of 16, got {crop_size}")
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    autotune = tf.data.AUTOTUNE
    paths = tf.data.Dataset.from_tensor_slices(files.paths)

    def load(path):
        return _cover(_decode(path), crop_size)

    def augment(seed, image):
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        crop = tf.image.stateless_random_crop(image, [crop_size, crop_size, 3], crop_seed)
        crop = tf.image.stateless_random_flip_left_right(crop, flip_seed)
        return tf.cast(crop, tf.float32) / 255.0

    if cache:
        images = paths.map(load, num_parallel_calls=autotune).ignore_errors(log_warning=True)
        return example_stream(images.cache(), len(files.paths), augment, batch_size, seed,
                              shuffle_buffer, start_step)
    return example_stream(paths, len(files.paths), augment, batch_size, seed, shuffle_buffer,
                          start_step, load=load, drop_errors=True)


def example_stream(items: tf.data.Dataset, count: int, augment, batch_size: int, seed: int,
                   shuffle_buffer: int, start_step: int, load=None,
                   drop_errors: bool = False) -> tf.data.Dataset:
    """Batches of `augment(example_seed, item)` over endless reshuffled epochs of `items`
    (`count` of them), positioned at training step `start_step`.

    Example i of the stream is a function of (seed, i) alone: the epoch orders come from
    seeded shuffles, and each example's random crop from stateless ops keyed by (seed, i). So
    every `fit` (a phase switch, a run resumed in a new process) continues the stream where
    the previous step left it, rather than replaying its first batches.

    With `load`, `items` are file names decoded by `load` after the skip (with `drop_errors`,
    ones that fail to decode are dropped with a warning): without a cache, a run resumed at
    step N reads none of the N x batch files it skips.
    """
    ds = items.shuffle(min(count, shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().shuffle(4 * batch_size, seed=seed + 1)
    ds = ds.enumerate().skip(start_step * batch_size)
    if load is not None:
        ds = ds.map(lambda i, item: (i, load(*item) if isinstance(item, tuple) else load(item)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if drop_errors:
            ds = ds.ignore_errors(log_warning=True)
    ds = ds.map(lambda i, item: augment(tf.stack([tf.cast(seed, tf.int64), i]), item),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_dataset(files: ImageFiles, crop_size: int, num_images: int) -> tf.data.Dataset:
    """Center crops (batched) or, with crop_size=0, whole images padded to x16 (batch 1)."""
    paths = files.paths[:num_images] if num_images > 0 else files.paths
    ds = tf.data.Dataset.from_tensor_slices(paths).map(_decode)
    ds = ds.ignore_errors(log_warning=True)
    if crop_size:
        def center(image):
            image = _cover(image, crop_size)
            shape = tf.shape(image)
            top = (shape[0] - crop_size) // 2
            left = (shape[1] - crop_size) // 2
            crop = image[top:top + crop_size, left:left + crop_size]
            return tf.cast(tf.ensure_shape(crop, [crop_size, crop_size, 3]), tf.float32) / 255.0
        return ds.map(center).batch(len(paths))
    return ds.map(lambda im: tf.cast(edge_pad(im), tf.float32) / 255.0).batch(1)
