"""`python -m tfgc demo --mode sc`: selective compression of a procedural street scene.

Draws a scene (tfgc.semantic.scenes, nothing downloaded), compresses it with the bundled SC
model keeping people and cars and synthesising everything else from the label map, and
writes a side-by-side: original, the bundled GC model, the SC model with everything kept, and
the SC model keeping people and cars (heatmap of the kept latent blocks inset).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

SCENE_SEED = 7
KEEP = "person,car"


def _heatmap_inset(image: np.ndarray, latent_mask: np.ndarray, stride: int) -> np.ndarray:
    """The image with a quarter-size heatmap (white = kept, gray = synthesised) bottom-left."""
    kept = np.kron(latent_mask.astype(np.uint8), np.ones((stride, stride), np.uint8))
    kept = kept[:image.shape[0], :image.shape[1]]
    heat = np.where(kept[..., None] == 1, 255, 110).astype(np.uint8).repeat(3, -1)
    small = heat[::4, ::4]
    out = image.copy()
    h, w = small.shape[:2]
    out[-h - 2:, :w + 2] = 0
    out[-h - 1:-1, 1:w + 1] = small
    return out


def run_sc(args: argparse.Namespace) -> int:
    from tfgc import assets
    from tfgc.codec import load_codec
    from tfgc.coding import parse_header
    from tfgc.data.images import write_png
    from tfgc.evaluation.crops import labelled_panel, panel_row
    from tfgc.evaluation.metrics import psnr
    from tfgc.semantic.scenes import generate_scene
    from tfgc.utils.files import write_bytes_atomic

    scene = generate_scene(256, 512, SCENE_SEED)
    original, label_ids = scene.image, scene.label_ids
    pixels = original.shape[0] * original.shape[1]
    sc = load_codec(args.model or assets.BUNDLED_SC_MODEL_DIR)
    gc = load_codec(None)
    print(f"SC model: {sc.name}; GC model: {gc.name}; scene {original.shape[1]}x"
          f"{original.shape[0]} (seed {SCENE_SEED})", file=sys.stderr)

    everything = sc.compress(original, labels=label_ids,
                             preserve_mask=np.ones(label_ids.shape, np.uint8))
    selective = sc.compress(original, labels=label_ids, preserve=KEEP)
    gc_data = gc.compress(original)
    results = {"GC (bundled model)": (gc_data, gc.decompress(gc_data)),
               "SC, everything kept": (everything, sc.decompress(everything)),
               f"SC, {KEEP} kept": (selective, sc.decompress(selective))}
    header = parse_header(selective)
    kept = np.array(header.preserve_mask())
    panels = [labelled_panel(original, ["original", f"{original.shape[1]}x"
                                                    f"{original.shape[0]}"])]
    print(f"{'':<24}{'bytes':>7}{'bpp':>8}{'PSNR':>8}  sections")
    for name, (data, image) in results.items():
        bpp = 8 * len(data) / pixels
        sections = ", ".join(f"{s.type}:{len(s.data) + 6} B" for s in parse_header(data).sections)
        print(f"{name:<24}{len(data):>7}{bpp:>8.4f}{psnr(original, image):>8.2f}  "
              f"{sections or '-'}")
        shown = _heatmap_inset(image, kept, 16) if name.endswith(f"{KEEP} kept") else image
        panels.append(labelled_panel(shown, [name, f"{len(data)} B, {bpp:.3f} bpp"]))
    saved = 1 - len(selective) / len(everything)
    print(f"keeping only {KEEP} ({kept.mean():.0%} of the latent blocks) saves {saved:.0%} of "
          "the bits against keeping everything (label map and mask included)")
    os.makedirs(args.out, exist_ok=True)
    side_by_side = os.path.join(args.out, "scene_sc_side_by_side.png")
    write_png(side_by_side, panel_row(panels))
    write_bytes_atomic(os.path.join(args.out, "scene_sc.tfgc"), selective)
    print(f"wrote {side_by_side} and {os.path.join(args.out, 'scene_sc.tfgc')}")
    return 0
