"""What a user gives an SC model besides the image: a label map and what to preserve.

The label map is the dataset's own single-channel PNG (Cityscapes `*_gtFine_labelIds.png`,
ADE20K annotations), turned into train ids with the model's label set. What to preserve is one
of: class names (`person,car`), a pixel box (`X0,Y0,X1,Y1`, end exclusive) or a mask image
(nonzero = preserve). Everything is checked here, before any graph runs, with messages that
say what to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tfgc.coding.format import input_error, size_mismatch_template
from tfgc.errors import ConfigError, ImageReadError
from tfgc.semantic.labels import LabelSet


@dataclass(frozen=True)
class Preserve:
    """Exactly one of: class names, a box (x0, y0, x1, y1) in pixels, or a mask (path/array)."""

    classes: str | list[str] | None = None
    box: str | tuple[int, int, int, int] | None = None
    mask: str | os.PathLike | np.ndarray | None = None

    def check(self) -> None:
        given = [n for n, v in (("classes", self.classes), ("box", self.box),
                                ("mask", self.mask)) if v is not None]
        if len(given) != 1:
            raise ConfigError("an SC model needs exactly one of: preserve classes (--preserve "
                              "person,car), a box (--preserve-box X0,Y0,X1,Y1) or a mask image "
                              f"(--preserve-mask MASK.png); got {', '.join(given) or 'none'}")


def _read_single_channel(source, what: str) -> np.ndarray:
    if isinstance(source, np.ndarray):
        array = source
    else:
        name = os.fspath(source)
        try:
            with Image.open(name) as image:
                image.load()
                if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                    raise ImageReadError(
                        f"{what} {name} is a {image.mode} image; give the single-channel "
                        "PNG of ids (e.g. Cityscapes *_gtFine_labelIds.png, not *_color.png)")
                array = np.asarray(image)
        except ImageReadError:
            raise
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageReadError(f"cannot read {what} {name}: {e}") from None
    if array.ndim != 2:
        raise ImageReadError(f"the {what} must be one channel [H, W], got shape {array.shape}")
    return array


def read_label_map(source, label_set: LabelSet, image_shape: tuple[int, int]) -> np.ndarray:
    """Dataset label ids (path or array [H, W]) -> uint8 train ids [H, W] (255 = ignored)."""
    # The checks and their classes are the SavedModels' too (format.INPUT_CHECKS, same order).
    ids = _read_single_channel(source, "label map")
    _check_size(ids, image_shape, "label_map_size", "label map")
    if ids.dtype.kind not in "iu":
        raise input_error("label_map_ids", f"label ids must be integers ({label_set.name} "
                          f"ids), got an array of {ids.dtype}")
    if ids.min() < 0 or ids.max() > 255:
        raise input_error("label_map_ids", f"label ids must be 0..255 ({label_set.name}), got "
                          f"{ids.min()}..{ids.max()}")
    return label_set.lookup().astype(np.uint8)[ids.astype(np.int64)]


def _check_size(array: np.ndarray, image_shape: tuple[int, int], check: str, what: str):
    if tuple(array.shape) != tuple(image_shape):
        raise input_error(check, size_mismatch_template(what).format(
            f"{array.shape[1]}x{array.shape[0]}", f"{image_shape[1]}x{image_shape[0]}"))


def _parse_box(box, image_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    if isinstance(box, str):
        try:
            box = tuple(int(v) for v in box.split(","))
        except ValueError:
            box = ()
    if len(box) != 4:
        raise ConfigError(f"a preserve box is X0,Y0,X1,Y1 (four integers), got {box!r}")
    x0, y0, x1, y1 = box
    height, width = image_shape
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ConfigError(f"preserve box {x0},{y0},{x1},{y1} must satisfy 0 <= X0 < X1 <= "
                          f"{width} and 0 <= Y0 < Y1 <= {height} (the image is {width}x{height})")
    return x0, y0, x1, y1


def preserve_mask(preserve: Preserve, train_ids: np.ndarray, label_set: LabelSet
                  ) -> np.ndarray:
    """uint8 [H, W] pixel mask, 1 = preserve, from one of the Preserve options."""
    preserve.check()
    shape = train_ids.shape
    if preserve.classes is not None:
        return np.isin(train_ids, label_set.class_ids(preserve.classes)).astype(np.uint8)
    if preserve.box is not None:
        x0, y0, x1, y1 = _parse_box(preserve.box, shape)
        mask = np.zeros(shape, np.uint8)
        mask[y0:y1, x0:x1] = 1
        return mask
    mask = _read_single_channel(preserve.mask, "preserve mask")
    _check_size(mask, shape, "preserve_mask_size", "preserve mask")
    return (mask != 0).astype(np.uint8)
