"""Label sets of the dataset layouts tfgc reads: Cityscapes (19 train classes) and ADE20K (150).

Networks see *train ids*: 0..K-1 for the K classes, and `IGNORE` for pixels the dataset marks
as unlabelled or ignored in evaluation; their one-hot vector is all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE = 255  # train id of ignored pixels (Cityscapes' convention)


@dataclass(frozen=True)
class CityscapesLabel:
    name: str
    id: int  # value in *_gtFine_labelIds.png
    train_id: int  # 0..18, or IGNORE
    category: str
    has_instances: bool


# Cityscapes' own table (cityscapesScripts labels.py), without "license plate" (id -1).
CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = tuple(CityscapesLabel(*row) for row in (
    ("unlabeled", 0, IGNORE, "void", False),
    ("ego vehicle", 1, IGNORE, "void", False),
    ("rectification border", 2, IGNORE, "void", False),
    ("out of roi", 3, IGNORE, "void", False),
    ("static", 4, IGNORE, "void", False),
    ("dynamic", 5, IGNORE, "void", False),
    ("ground", 6, IGNORE, "void", False),
    ("road", 7, 0, "flat", False),
    ("sidewalk", 8, 1, "flat", False),
    ("parking", 9, IGNORE, "flat", False),
    ("rail track", 10, IGNORE, "flat", False),
    ("building", 11, 2, "construction", False),
    ("wall", 12, 3, "construction", False),
    ("fence", 13, 4, "construction", False),
    ("guard rail", 14, IGNORE, "construction", False),
    ("bridge", 15, IGNORE, "construction", False),
    ("tunnel", 16, IGNORE, "construction", False),
    ("pole", 17, 5, "object", False),
    ("polegroup", 18, IGNORE, "object", False),
    ("traffic light", 19, 6, "object", False),
    ("traffic sign", 20, 7, "object", False),
    ("vegetation", 21, 8, "nature", False),
    ("terrain", 22, 9, "nature", False),
    ("sky", 23, 10, "sky", False),
    ("person", 24, 11, "human", True),
    ("rider", 25, 12, "human", True),
    ("car", 26, 13, "vehicle", True),
    ("truck", 27, 14, "vehicle", True),
    ("bus", 28, 15, "vehicle", True),
    ("caravan", 29, IGNORE, "vehicle", True),
    ("trailer", 30, IGNORE, "vehicle", True),
    ("train", 31, 16, "vehicle", True),
    ("motorcycle", 32, 17, "vehicle", True),
    ("bicycle", 33, 18, "vehicle", True),
))
CITYSCAPES_ID = {label.name: label.id for label in CITYSCAPES_LABELS}

# ADE20K SceneParsing (objectInfo150): annotation value v in 1..150 is class v - 1; 0 = other.
ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug",
    "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
assert len(ADE20K_CLASSES) == 150


@dataclass(frozen=True)
class LabelSet:
    """How a layout's stored label values become train ids 0..K-1 (or IGNORE)."""

    name: str
    class_names: tuple[str, ...]  # train id -> name
    to_train_id: tuple[int, ...]  # stored value 0..255 -> train id

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def lookup(self) -> np.ndarray:
        return np.asarray(self.to_train_id, np.int32)

    def class_ids(self, names: str | list[str]) -> list[int]:
        """Train ids of comma-separated class names; unknown names list the known ones."""
        from tfgc.errors import ConfigError

        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in names if n not in self.class_names]
        if unknown or not names:
            raise ConfigError(
                f"unknown {self.name} class name(s) {', '.join(map(repr, unknown)) or '(none)'};"
                f" known: {', '.join(self.class_names)}")
        return [self.class_names.index(n) for n in names]


def _cityscapes() -> LabelSet:
    lookup = [IGNORE] * 256
    for label in CITYSCAPES_LABELS:
        lookup[label.id] = label.train_id
    names = [""] * 19
    for label in CITYSCAPES_LABELS:
        if label.train_id != IGNORE:
            names[label.train_id] = label.name
    return LabelSet("cityscapes", tuple(names), tuple(lookup))


def _ade20k() -> LabelSet:
    lookup = [IGNORE] + list(range(150)) + [IGNORE] * 105
    return LabelSet("ade20k", ADE20K_CLASSES, tuple(lookup))


LABEL_SETS: dict[str, LabelSet] = {"cityscapes": _cityscapes(), "ade20k": _ade20k()}


def label_set(name: str) -> LabelSet:
    from tfgc.errors import ConfigError

    if name not in LABEL_SETS:
        raise ConfigError(f"unknown label set {name!r}; choose from {sorted(LABEL_SETS)}")
    return LABEL_SETS[name]
