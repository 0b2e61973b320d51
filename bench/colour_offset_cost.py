"""What the colour-offset section costs the encoder and the file, and what it does to the bias.

For each image, in one process (the model loaded once, graphs traced on an untimed first
image): encode without and with the offset (`Codec.compress(..., colour_offset=...)`),
alternating, CPU seconds of this process (user + system) per encode; the file sizes; the
mean colour bias of both decodes, and a local colour error (mean over 64x64-pixel blocks and
channels of |block mean of decoded - block mean of original|), which a global offset cannot
remove. Writes bench/results/colour_offset_cost.{json,md}.

    python bench/colour_offset_cost.py --images KODAK_DIR [--model PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


BLOCK = 64


def local_colour_error(image: np.ndarray, decoded: np.ndarray) -> float:
    """Mean over BLOCK x BLOCK blocks (whole blocks only) and channels of |mean difference|."""
    h, w = (s // BLOCK * BLOCK for s in image.shape[:2])
    difference = decoded[:h, :w].astype(np.float64) - image[:h, :w]
    blocks = difference.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).mean(axis=(1, 3))
    return float(np.abs(blocks).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="a folder of PNG images (e.g. Kodak)")
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results",
                                                      "colour_offset_cost"))
    args = parser.parse_args()

    from tfgc.codec import load_codec
    from tfgc.coding import parse_header
    from tfgc.data.images import read_rgb
    from tfgc.evaluation.metrics import colour_bias

    codec = load_codec(args.model)
    names = sorted(f for f in os.listdir(args.images) if f.endswith(".png"))[:args.limit]
    first = read_rgb(os.path.join(args.images, names[0]))
    for offset in (False, True):  # trace both graphs before timing
        codec.decompress(codec.compress(first, colour_offset=offset))
    rows = []
    for name in names:
        image = read_rgb(os.path.join(args.images, name))
        row = {"image": name}
        for offset in (False, True):
            start = cpu_seconds()
            data = codec.compress(image, colour_offset=offset)
            seconds = cpu_seconds() - start
            key = "offset" if offset else "plain"
            decoded = codec.decompress(data)
            row[key] = {"encode_cpu_s": seconds, "bytes": len(data),
                        "colour_offset": list(parse_header(data).colour_offset),
                        "colour_bias": colour_bias(image, decoded),
                        "local_colour_error": local_colour_error(image, decoded)}
        rows.append(row)
        print(name, row, file=sys.stderr)

    def median(key, field):
        return statistics.median(r[key][field] for r in rows)

    def worst(key):
        return max(max(abs(b) for b in r[key]["colour_bias"]) for r in rows)

    def under_2(key):
        return sum(max(abs(b) for b in r[key]["colour_bias"]) < 2 for r in rows)

    pixels = [read_rgb(os.path.join(args.images, r["image"])).shape[:2] for r in rows]
    extra_bpp = [8 * (r["offset"]["bytes"] - r["plain"]["bytes"]) / (h * w)
                 for r, (h, w) in zip(rows, pixels)]
    summary = {
        "model": codec.name, "images": len(rows),
        "encode_cpu_s_median": {k: median(k, "encode_cpu_s") for k in ("plain", "offset")},
        "encode_cpu_ratio_median": statistics.median(
            r["offset"]["encode_cpu_s"] / r["plain"]["encode_cpu_s"] for r in rows),
        "extra_bpp_mean": float(np.mean(extra_bpp)),
        "files_with_section": sum(r["offset"]["bytes"] > r["plain"]["bytes"] for r in rows),
        "worst_bias": {k: worst(k) for k in ("plain", "offset")},
        "local_colour_error_mean": {k: statistics.mean(r[k]["local_colour_error"] for r in rows)
                                    for k in ("plain", "offset")},
        "images_under_2_levels": {k: under_2(k) for k in ("plain", "offset")},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump({"summary": summary, "images": rows}, f, indent=1)
    lines = [
        f"# Colour offset: encoder cost and effect ({summary['model']}, {len(rows)} images)",
        "",
        "One process, model loaded once, both graphs traced on an untimed first image; per "
        "image the plain encode and the encode with the offset run back to back. CPU s = "
        "user + system of this process per encode (2 shared cores; other jobs running). Bias ="
        " mean of decoded minus original per channel (R, G, B), 8-bit levels.",
        "",
        "| | plain | with colour offset |",
        "|---|---|---|",
        f"| encode CPU s (median) | {summary['encode_cpu_s_median']['plain']:.3f} | "
        f"{summary['encode_cpu_s_median']['offset']:.3f} "
        f"({summary['encode_cpu_ratio_median']:.2f}x, median of per-image ratios) |",
        f"| worst channel bias | {summary['worst_bias']['plain']:.2f} | "
        f"{summary['worst_bias']['offset']:.2f} |",
        f"| images under 2 levels on every channel | "
        f"{summary['images_under_2_levels']['plain']} of {len(rows)} | "
        f"{summary['images_under_2_levels']['offset']} of {len(rows)} |",
        f"| local colour error ({BLOCK}x{BLOCK} blocks, mean) | "
        f"{summary['local_colour_error_mean']['plain']:.2f} | "
        f"{summary['local_colour_error_mean']['offset']:.2f} |",
        f"| files with the section (9 bytes) | | {summary['files_with_section']} of {len(rows)}"
        f"; +{summary['extra_bpp_mean']:.5f} bpp mean |",
        "",
        "| image | offset R G B | bias plain | bias with offset | encode CPU s plain / offset |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {' '.join(f'{o:+d}' for o in r['offset']['colour_offset'])} | "
            + " ".join(f"{b:+.2f}" for b in r["plain"]["colour_bias"]) + " | "
            + " ".join(f"{b:+.2f}" for b in r["offset"]["colour_bias"])
            + f" | {r['plain']['encode_cpu_s']:.3f} / {r['offset']['encode_cpu_s']:.3f} |")
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
