"""Side-by-side crops: original, ours, and each baseline at every factor of our bits, labelled.

One PNG per image: columns are original, ours, then each baseline; rows are the bpp factors
(baselines at the same bits as ours, then at 2x, ...). All panels show the same detailed region
at 1:1, so artefacts are not hidden by resampling.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfgc.data.images import encode_png
from tfgc.evaluation.codecs import BaselineCodec
from tfgc.utils.files import write_bytes_atomic

CROP_SIZE = 256
LABEL_HEIGHT = 34
GAP = 6


def pick_crop(image: np.ndarray, size: int = CROP_SIZE) -> tuple[int, int, int]:
    """(top, left, side) of the square with most gradient energy: flat sky shows little."""
    side = min(size, image.shape[0], image.shape[1])
    gray = image.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_score = (0, 0), -1.0
    limit_y, limit_x = energy.shape[0] - side + 1, energy.shape[1] - side + 1
    step = max(1, side // 4)
    for top in range(0, max(1, limit_y), step):
        for left in range(0, max(1, limit_x), step):
            bottom, right = min(top + side, energy.shape[0]), min(left + side, energy.shape[1])
            score = (integral[bottom, right] - integral[top, right]
                     - integral[bottom, left] + integral[top, left])
            if score > best_score:
                best, best_score = (top, left), float(score)
    return best[0], best[1], side


def _font(size: int = 13) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def labelled_panel(pixels: np.ndarray, lines: Sequence[str], alert: bool = False) -> Image.Image:
    height, width = pixels.shape[:2]
    font = _font()
    text_width = max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(line, font=font))
                     for line in lines[:2])
    panel = Image.new("RGB", (max(width, text_width + 4), height + LABEL_HEIGHT), "white")
    panel.paste(Image.fromarray(pixels), (0, LABEL_HEIGHT))
    draw = ImageDraw.Draw(panel)
    for index, line in enumerate(lines[:2]):
        color = (200, 0, 0) if alert and index == 1 else (0, 0, 0)
        draw.text((2, 2 + 16 * index), line, fill=color, font=font)
    return panel


def panel_row(panels: Sequence[Image.Image], gap: int = 4) -> np.ndarray:
    """Panels left to right on white, `gap` pixels apart, as uint8 [H, W, 3] for a PNG."""
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    canvas = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width + gap
    return np.asarray(canvas)


def _describe(entry: dict) -> str:
    metrics = entry.get("metrics", {})
    text = f"{entry['bpp']:.3f} bpp, {metrics.get('psnr', float('nan')):.1f} dB"
    return text + ("" if entry.get("reached", True) else " NOT REACHED")


def render_crops(image: np.ndarray, record: dict, reconstructions: dict[str, np.ndarray],
                 baselines: Sequence[BaselineCodec], factors: Sequence[float]) -> Image.Image:
    from tfgc.evaluation.runner import factor_key

    top, left, side = pick_crop(image)

    def cut(pixels: np.ndarray) -> np.ndarray:
        return pixels[top:top + side, left:left + side]

    model = record["model"]
    rows: list[list[Optional[Image.Image]]] = []
    for index, factor in enumerate(factors):
        row: list[Optional[Image.Image]] = [None, None]
        if index == 0:
            row = [labelled_panel(cut(image), ["original", f"{side}px crop at x={left}, y={top}"]),
                   labelled_panel(cut(reconstructions["model"]),
                          [f"ours: {model['name']}"[:40], _describe(model)])]
        key = factor_key(factor)
        bits = "same bits as ours" if factor == 1 else f"{factor:g}x our bits"
        for baseline in baselines:
            entry = record["baselines"].get(baseline.name, {}).get(key, {})
            pixels = reconstructions.get(f"{baseline.name}@{key}")
            if pixels is None or "error" in entry:
                row.append(None)
                continue
            caption = [f"{baseline.label}, {bits}"[:40], _describe(entry)]
            row.append(labelled_panel(cut(pixels), caption, alert=not entry["reached"]))
        rows.append(row)
    columns = max(len(r) for r in rows)
    cell_w = max(p.width for r in rows for p in r if p is not None)
    cell_h = max(p.height for r in rows for p in r if p is not None)
    sheet = Image.new("RGB", (columns * (cell_w + GAP) - GAP, len(rows) * (cell_h + GAP) - GAP),
                      (235, 235, 235))
    for y, row in enumerate(rows):
        for x, panel in enumerate(row):
            if panel is not None:
                sheet.paste(panel, (x * (cell_w + GAP), y * (cell_h + GAP)))
    return sheet


def write_crops(path: str | os.PathLike, image: np.ndarray, record: dict,
                reconstructions: dict[str, np.ndarray], baselines: Sequence[BaselineCodec],
                factors: Sequence[float]) -> None:
    sheet = render_crops(image, record, reconstructions, baselines, factors)
    write_bytes_atomic(path, encode_png(np.asarray(sheet)))
