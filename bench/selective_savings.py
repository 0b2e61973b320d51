"""Selective compression: bits saved vs synthesised area, and fidelity where the image is kept.

For every scene of a Cityscapes-layout split and each preservation setting (everything
preserved, then more and more classes synthesised from the label map), compresses with an SC
model and measures: the synthesised fraction of latent positions, the file's bpp split into
latent payload and the label-map / mask sections, the bits saved against the same model with
everything preserved, and PSNR inside the preserved region against the all-preserved
reconstruction's PSNR on that same region. Writes bench/results/selective_savings.{json,md}.

    nice -n 15 python bench/selective_savings.py --model MODEL --scenes ROOT [--split val]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Synthesised classes per setting (everything else preserved); Fig. 8 of the paper synthesises
# vegetation, sky, sidewalk (and ego vehicle, wall) plus one more class each time.
SETTINGS = {
    "all preserved": [],
    "sky": ["sky"],
    "sky, vegetation": ["sky", "vegetation"],
    "+ sidewalk": ["sky", "vegetation", "sidewalk"],
    "+ road": ["sky", "vegetation", "sidewalk", "road"],
    "+ building (people, cars kept)": ["sky", "vegetation", "sidewalk", "road", "building"],
    "all synthesised": None,
}


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    if not where.any():
        return float("nan")
    mse = np.mean((a[where].astype(np.float64) - b[where].astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="SC training workdir or export")
    parser.add_argument("--scenes", required=True, help="Cityscapes-layout root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()

    from PIL import Image

    from tfgc.codec import load_codec
    from tfgc.coding import format as fmt
    from tfgc.coding import parse_header
    from tfgc.data.images import read_rgb
    from tfgc.semantic.inputs import read_label_map

    codec = load_codec(args.model)
    label_set = codec.label_set
    images = sorted(glob.glob(os.path.join(args.scenes, "leftImg8bit", args.split, "*",
                                           "*_leftImg8bit.png")))[:args.limit]
    rows = {name: [] for name in SETTINGS}
    for path in images:
        labels_path = path.replace("leftImg8bit" + os.sep, "gtFine" + os.sep).replace(
            "_leftImg8bit.png", "_gtFine_labelIds.png")
        pixels = read_rgb(path)
        ids = np.asarray(Image.open(labels_path))
        train_ids = read_label_map(ids, label_set, pixels.shape[:2])
        reference = None
        for name, synthesised in SETTINGS.items():
            if synthesised is None:
                mask = np.zeros(ids.shape, np.uint8)
            else:
                gone = label_set.class_ids(synthesised) if synthesised else []
                mask = (~np.isin(train_ids, gone)).astype(np.uint8)
            data = codec.compress(pixels, labels=ids, preserve_mask=mask)
            header = parse_header(data)
            out = codec.decompress(data)
            kept = np.kron(np.array(header.preserve_mask(), np.uint8),
                           np.ones((16, 16), np.uint8))[:pixels.shape[0], :pixels.shape[1]]
            kept = kept.astype(bool)
            if reference is None:
                reference = (len(data), out, header.payload_size)
            n = pixels.shape[0] * pixels.shape[1]
            sections = {s.type: fmt.SECTION_HEADER.size + len(s.data) for s in header.sections}
            rows[name].append({
                "synthesised_fraction": 1.0 - float(np.mean(header.preserve_mask())),
                "bpp": 8 * len(data) / n,
                "latent_bpp": 8 * header.payload_size / n,
                "label_map_bpp": 8 * sections[fmt.SECTION_LABEL_MAP] / n,
                "mask_bpp": 8 * sections[fmt.SECTION_PRESERVE_MASK] / n,
                "saved": 1.0 - len(data) / reference[0],
                "latent_saved": 1.0 - header.payload_size / reference[2],
                "psnr_preserved": _psnr(pixels, out, kept[..., None].repeat(3, -1)),
                "psnr_preserved_reference": _psnr(pixels, reference[1],
                                                  kept[..., None].repeat(3, -1)),
            })
        print(path, {k: round(v[-1]["bpp"], 4) for k, v in rows.items()}, file=sys.stderr)

    summary = []
    for name, values in rows.items():
        mean = {key: float(np.nanmean([v[key] for v in values])) for key in values[0]}
        summary.append({"setting": name, "images": len(values), **mean})
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "selective_savings.json"), "w") as f:
        json.dump({"model": codec.name, "scenes": len(images), "summary": summary,
                   "per_image": rows}, f, indent=2)
    lines = [
        "# Selective compression: bits saved vs synthesised area",
        "",
        f"`bench/selective_savings.py`, model {codec.name}, {len(images)} procedural scenes "
        f"({args.split} split). Means over images. *saved*: file bytes saved against the same "
        "model with everything preserved (label map and mask included in both). *PSNR kept*: "
        "inside the preserved latent blocks, vs the all-preserved reconstruction on the same "
        "blocks.",
        "",
        "| synthesised classes | synthesised latents | bpp | latent bpp | label map bpp | "
        "mask bpp | saved (file) | saved (latent) | PSNR kept dB | PSNR same region, all "
        "preserved dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['setting']} | {s['synthesised_fraction']:.0%} | {s['bpp']:.4f} | "
            f"{s['latent_bpp']:.4f} | {s['label_map_bpp']:.4f} | {s['mask_bpp']:.4f} | "
            f"{s['saved']:.0%} | {s['latent_saved']:.0%} | {s['psnr_preserved']:.2f} | "
            f"{s['psnr_preserved_reference']:.2f} |")
    with open(os.path.join(args.out, "selective_savings.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
