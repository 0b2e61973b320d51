"""Procedural street scenes written in the Cityscapes layout, for tests, the demo and CPU models.

No Cityscapes is reachable here, so this draws what its label maps contain most of: sky,
buildings with windows, road with lane marks, sidewalks, trees, poles, cars and people, each
a textured shape with its Cityscapes label id (and an instance id for cars and people, encoded
as Cityscapes does: label id * 1000 + index). Scenes are deterministic in (seed, index).

    python -m tfgc.semantic.scenes OUT --num 40 --height 256 --width 512 --seed 0
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from tfgc.semantic.labels import CITYSCAPES_ID
from tfgc.utils.files import write_bytes_atomic

CITY = "proctown"


@dataclass
class Scene:
    image: np.ndarray  # uint8 [H, W, 3]
    label_ids: np.ndarray  # uint8 [H, W], Cityscapes label ids
    instance_ids: np.ndarray  # int32 [H, W]: label id, or label id * 1000 + k for instances


class _Canvas:
    """Paints a shape into the image, label and instance maps at once."""

    def __init__(self, height: int, width: int, rng: np.random.Generator):
        self.h, self.w, self.rng = height, width, rng
        self.image = np.zeros([height, width, 3], np.float32)
        self.labels = np.zeros([height, width], np.uint8)
        self.instances = np.zeros([height, width], np.int32)

    def mask(self, draw) -> np.ndarray:
        layer = Image.new("L", (self.w, self.h), 0)
        draw(ImageDraw.Draw(layer))
        return np.asarray(layer) > 0

    def paint(self, mask: np.ndarray, colour, label: str, noise: float = 6.0,
              instance: int | None = None) -> None:
        label_id = CITYSCAPES_ID[label]
        colour = np.asarray(colour, np.float32)
        grain = self.rng.normal(0.0, noise, [int(mask.sum()), 1]) * [1.0, 1.0, 1.0]
        self.image[mask] = colour + grain + self.rng.normal(0, noise / 3, [int(mask.sum()), 3])
        self.labels[mask] = label_id
        self.instances[mask] = label_id if instance is None else label_id * 1000 + instance

    def shape(self, kind: str, box, colour, label: str, **kwargs) -> np.ndarray:
        box = [float(v) for v in box]
        mask = self.mask(lambda d: getattr(d, kind)(box, fill=255))
        self.paint(mask, colour, label, **kwargs)
        return mask


def _jitter(rng, colour, amount=20):
    return np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)


def generate_scene(height: int = 256, width: int = 512,
                   seed: int | tuple[int, ...] = 0) -> Scene:
    """One street scene; same (height, width, seed) -> same arrays."""
    rng = np.random.default_rng(seed)
    c = _Canvas(height, width, rng)
    H, W = height, width
    horizon = H * rng.uniform(0.38, 0.5)

    # Sky: a vertical gradient.
    top, bottom = _jitter(rng, (70, 130, 200)), _jitter(rng, (185, 210, 235))
    t = np.linspace(0, 1, H)[:, None, None]
    c.image[:] = top * (1 - t) + bottom * t
    c.labels[:] = CITYSCAPES_ID["sky"]
    c.instances[:] = CITYSCAPES_ID["sky"]
    c.image += rng.normal(0, 2.0, c.image.shape)

    # Buildings along the horizon, with rows of windows.
    x = -rng.uniform(0, 0.1) * W
    while x < W:
        bw = rng.uniform(0.1, 0.25) * W
        roof = horizon - rng.uniform(0.12, 0.38) * H
        wall = _jitter(rng, [(150, 120, 100), (170, 165, 150), (120, 110, 105),
                             (190, 170, 130)][rng.integers(4)], 15)
        c.shape("rectangle", (x, roof, x + bw, horizon + 2), wall, "building")
        window = _jitter(rng, (60, 70, 85), 10)
        size = max(2.0, 0.022 * H)
        for wy in np.arange(roof + size, horizon - 2 * size, 2.2 * size):
            for wx in np.arange(x + size, x + bw - 1.5 * size, 2.0 * size):
                c.shape("rectangle", (wx, wy, wx + size, wy + 1.3 * size), window, "building",
                        noise=3.0)
        x += bw

    # Ground: sidewalk everywhere below the horizon, then the road as a trapezoid over it.
    c.shape("rectangle", (0, horizon, W, H), _jitter(rng, (175, 165, 160), 10), "sidewalk",
            noise=9.0)
    vanish = W * rng.uniform(0.4, 0.6)
    left_edge, right_edge = W * rng.uniform(-0.15, 0.2), W * rng.uniform(0.8, 1.15)
    road = [(vanish - 0.03 * W, horizon), (vanish + 0.03 * W, horizon), (right_edge, H),
            (left_edge, H)]
    road_mask = c.mask(lambda d: d.polygon(road, fill=255))
    c.paint(road_mask, _jitter(rng, (85, 85, 90), 8), "road", noise=7.0)
    for k in range(8):  # dashed centre line, narrowing towards the horizon
        t0, t1 = (k + 0.3) / 8, (k + 0.7) / 8
        y0, y1 = horizon + (H - horizon) * t0 ** 1.5, horizon + (H - horizon) * t1 ** 1.5
        half0, half1 = 0.004 * W * (1 + 4 * t0), 0.004 * W * (1 + 4 * t1)
        xc0 = vanish + ((left_edge + right_edge) / 2 - vanish) * (y0 - horizon) / (H - horizon)
        xc1 = vanish + ((left_edge + right_edge) / 2 - vanish) * (y1 - horizon) / (H - horizon)
        c.paint(c.mask(lambda d, a=(xc0, y0, half0), b=(xc1, y1, half1): d.polygon(
            [(a[0] - a[2], a[1]), (a[0] + a[2], a[1]), (b[0] + b[2], b[1]),
             (b[0] - b[2], b[1])], fill=255)), (225, 225, 215), "road", noise=4.0)

    def depth(y):  # 0 at the horizon, 1 at the bottom edge
        return max(0.05, (y - horizon) / (H - horizon))

    def road_span(y):
        d = depth(y)
        return vanish + (left_edge - vanish) * d, vanish + (right_edge - vanish) * d

    # Trees and poles on the sidewalks (behind the people and cars).
    for _ in range(rng.integers(2, 6)):
        y = horizon + rng.uniform(0.02, 0.25) * (H - horizon)
        lo, hi = road_span(y)
        x = rng.uniform(0, max(lo, 1)) if rng.random() < 0.5 else rng.uniform(min(hi, W - 1), W)
        s = depth(y)
        c.shape("rectangle", (x - 0.008 * W * s - 1, y - 0.2 * H * s, x + 0.008 * W * s + 1, y),
                _jitter(rng, (90, 65, 45), 10), "vegetation")
        r = 0.12 * H * s + 3
        c.shape("ellipse", (x - 1.3 * r, y - 0.2 * H * s - 1.6 * r, x + 1.3 * r,
                            y - 0.2 * H * s + 0.4 * r),
                _jitter(rng, (70, 120, 50), 20), "vegetation", noise=22.0)
    for _ in range(rng.integers(0, 3)):
        y = horizon + rng.uniform(0.05, 0.4) * (H - horizon)
        lo, hi = road_span(y)
        x = lo - 4 if rng.random() < 0.5 else hi + 4
        s = depth(y)
        c.shape("rectangle", (x - 0.004 * W * s - 1, y - 0.45 * H * s, x + 0.004 * W * s + 1, y),
                (110, 110, 115), "pole", noise=3.0)
        if rng.random() < 0.5:
            r = 0.025 * H * s + 2
            c.shape("ellipse", (x - r, y - 0.45 * H * s - r, x + r, y - 0.45 * H * s + r),
                    (200, 40, 40), "traffic sign", noise=3.0)

    # Cars on the road and people on the sidewalks, far ones first so near ones occlude.
    objects = [("car", horizon + rng.uniform(0.15, 0.9) * (H - horizon))
               for _ in range(rng.integers(1, 5))]
    objects += [("person", horizon + rng.uniform(0.1, 0.95) * (H - horizon))
                for _ in range(rng.integers(1, 5))]
    counts = {"car": 0, "person": 0}
    for kind, y in sorted(objects, key=lambda o: o[1]):
        s = depth(y)
        lo, hi = road_span(y)
        k = counts[kind]
        counts[kind] += 1
        if kind == "car":
            cw, ch = 0.33 * W * s, 0.15 * W * s
            x = rng.uniform(lo, max(lo, hi - cw))
            body = _jitter(rng, [(180, 30, 30), (30, 60, 150), (220, 220, 220), (40, 40, 40),
                                 (200, 170, 40)][rng.integers(5)], 15)
            c.shape("rounded_rectangle", (x, y - 0.65 * ch, x + cw, y - 0.1 * ch), body, "car",
                    instance=k, noise=5.0)
            c.shape("rounded_rectangle", (x + 0.18 * cw, y - ch, x + 0.82 * cw, y - 0.6 * ch),
                    body, "car", instance=k, noise=5.0)
            c.shape("rectangle", (x + 0.24 * cw, y - 0.93 * ch, x + 0.76 * cw, y - 0.65 * ch),
                    (50, 65, 80), "car", instance=k, noise=4.0)
            for wx in (0.22, 0.78):
                r = 0.12 * cw
                c.shape("ellipse", (x + wx * cw - r, y - 0.1 * ch - r, x + wx * cw + r,
                                    y - 0.1 * ch + r), (25, 25, 25), "car", instance=k,
                        noise=3.0)
        else:
            ph = 0.45 * H * s + 6
            side = rng.random() < 0.5
            x = rng.uniform(0, max(lo - 0.1 * ph, 1)) if side else rng.uniform(
                min(hi + 0.1 * ph, W - 1), W)
            pw = 0.28 * ph
            c.shape("rectangle", (x - 0.3 * pw, y - 0.45 * ph, x + 0.3 * pw, y),
                    _jitter(rng, (50, 50, 70), 15), "person", instance=k, noise=4.0)
            c.shape("rounded_rectangle", (x - 0.5 * pw, y - 0.85 * ph, x + 0.5 * pw,
                                          y - 0.4 * ph),
                    _jitter(rng, [(200, 60, 60), (60, 160, 90), (230, 200, 60),
                                  (90, 90, 200)][rng.integers(4)], 30), "person", instance=k)
            r = 0.09 * ph
            c.shape("ellipse", (x - r, y - ph, x + r, y - 0.85 * ph + 0.2 * r),
                    _jitter(rng, (220, 180, 150), 25), "person", instance=k, noise=3.0)

    image = np.clip(np.round(c.image), 0, 255).astype(np.uint8)
    return Scene(image, c.labels, c.instances)


def _png(array: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> RGB, uint8 [H, W] -> 8-bit gray, uint16 [H, W] -> 16-bit gray."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def scene_paths(root: str, split: str, index: int) -> dict[str, str]:
    """Cityscapes file names: leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png."""
    stem = f"{CITY}_{index:06d}_000019"
    return {
        "image": os.path.join(root, "leftImg8bit", split, CITY, f"{stem}_leftImg8bit.png"),
        "labels": os.path.join(root, "gtFine", split, CITY, f"{stem}_gtFine_labelIds.png"),
        "instances": os.path.join(root, "gtFine", split, CITY, f"{stem}_gtFine_instanceIds.png"),
    }


def write_scenes(root: str, num_scenes: int, height: int = 256, width: int = 512,
                 seed: int = 0, split: str = "train") -> list[dict[str, str]]:
    """Writes `num_scenes` scenes (scene i drawn from seed (seed, i)) in the Cityscapes layout."""
    if num_scenes < 0 or height < 16 or width < 16:
        raise ValueError("need num_scenes >= 0 and scenes of at least 16x16 pixels")
    written = []
    for i in range(num_scenes):
        scene = generate_scene(height, width, (seed, i))
        paths = scene_paths(root, split, i)
        write_bytes_atomic(paths["image"], _png(scene.image))
        write_bytes_atomic(paths["labels"], _png(scene.label_ids))
        write_bytes_atomic(paths["instances"],
                           _png(scene.instance_ids.astype(np.uint16)))
        written.append(paths)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfgc.semantic.scenes",
        description="Writes procedural street scenes in the Cityscapes layout "
                    "(leftImg8bit/ + gtFine/ with labelIds and instanceIds).")
    parser.add_argument("out", help="dataset root to write")
    parser.add_argument("--num", type=int, default=40, help="number of scenes (default 40)")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train", help="train | val | test (default train)")
    args = parser.parse_args(argv)
    try:
        write_scenes(args.out, args.num, args.height, args.width, args.seed, args.split)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.num} scenes of {args.width}x{args.height} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
