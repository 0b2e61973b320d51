"""`python -m tfgc demo`: one bundled photo through the bundled model, beside JPEG and HEIC
at the same number of bytes."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from tfgc.cli.arguments import add_model_option

DEFAULT_IMAGE = "coffee.png"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="compress a bundled photo and compare with JPEG and HEIC",
        description="Compresses a bundled sample photo with the bundled model (or --model), "
                    "writes the .tfgc file, the reconstruction and a side-by-side PNG with JPEG "
                    "and HEIC at the same number of bytes, and prints bpp and quality metrics.")
    p.add_argument("--out", default="tfgc-demo", help="output folder (default: ./tfgc-demo)")
    add_model_option(p)
    p.add_argument("--image", default=None, help="default: a bundled sample photo")
    p.add_argument("--mode", choices=("gc", "sc"), default="gc",
                   help="gc: a photo vs JPEG and HEIC; sc: selective compression of a street "
                        "scene with the bundled SC model (people and cars kept)")
    p.set_defaults(run=run)


def _row(name: str, data_bytes: int, pixels: int, metrics: dict, note: str = "") -> dict:
    return {"codec": name, "bytes": data_bytes, "bpp": 8 * data_bytes / pixels, **metrics,
            "note": note}


def _cell(value: float, width: int, spec: str, known: bool = True) -> str:
    """A right-aligned table cell; '-' for what does not apply or could not be measured."""
    if not known or value is None or (isinstance(value, float) and not np.isfinite(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"


def run(args: argparse.Namespace) -> int:
    if args.mode == "sc":
        from tfgc.cli.demo_sc import run_sc

        return run_sc(args)

    from tfgc import assets
    from tfgc.codec import load_codec
    from tfgc.data.images import load_image, write_png
    from tfgc.evaluation.brisque_metric import brisque
    from tfgc.evaluation.codecs import get_baselines
    from tfgc.evaluation.crops import labelled_panel, panel_row
    from tfgc.evaluation.metrics import ms_ssim, psnr
    from tfgc.evaluation.niqe import niqe
    from tfgc.evaluation.rate_matching import match_rate
    from tfgc.utils.files import write_bytes_atomic

    path = args.image or os.path.join(assets.SAMPLES_DIR, DEFAULT_IMAGE)
    original = load_image(path).pixels
    stem = os.path.splitext(os.path.basename(path))[0]
    pixels = original.shape[0] * original.shape[1]
    codec = load_codec(args.model)
    print(f"model: {codec.name}; image: {path} ({original.shape[1]}x{original.shape[0]})",
          file=sys.stderr)

    def metrics(reconstruction: np.ndarray) -> dict:
        value, _ = ms_ssim(original, reconstruction)
        nr = niqe(reconstruction) if min(reconstruction.shape[:2]) >= 96 else float("nan")
        return {"psnr": psnr(original, reconstruction), "ms_ssim": value, "niqe": nr,
                "brisque": brisque(reconstruction)}

    data = codec.compress(original)
    ours = codec.decompress(data)
    write_bytes_atomic(os.path.join(args.out, f"{stem}.tfgc"), data)
    write_png(os.path.join(args.out, f"{stem}_tfgc.png"), ours)
    rows = [_row("original", 0, pixels, metrics(original)),
            _row("tfgc (ours)", len(data), pixels, metrics(ours))]
    panels = {"original": original, "tfgc (ours)": ours}
    for baseline in get_baselines(["jpeg", "heic"]):
        match = match_rate(baseline, original, 8 * len(data) / pixels)
        decoded = baseline.decode(match.encoded.data)
        label = baseline.label + ("" if match.reached else " (lowest)")
        note = "" if match.reached else "cannot get this small; at its lowest setting"
        rows.append(_row(label, len(match.encoded.data), pixels, metrics(decoded), note))
        panels[label] = decoded

    images = []
    for row in rows:
        caption = (["original", f"{original.shape[1]}x{original.shape[0]}"] if not row["bytes"]
                   else [row["codec"], f"{row['bytes']} B, {row['bpp']:.3f} bpp, "
                                       f"{row['psnr']:.1f} dB"])
        images.append(labelled_panel(panels[row["codec"]], caption,
                                     alert=bool(row["note"])))
    side_by_side = os.path.join(args.out, f"{stem}_side_by_side.png")
    write_png(side_by_side, panel_row(images))

    print(f"{'codec':<26}{'bytes':>7}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'NIQE':>7}"
          f"{'BRISQUE':>9}")
    for row in rows:  # the original has no size or fidelity of its own: only NIQE and BRISQUE
        coded = bool(row["bytes"])
        print(f"{row['codec']:<26}{_cell(row['bytes'], 7, 'd', coded)}"
              f"{_cell(row['bpp'], 8, '.4f', coded)}{_cell(row['psnr'], 8, '.2f', coded)}"
              f"{_cell(row['ms_ssim'], 9, '.4f', coded)}{_cell(row['niqe'], 7, '.2f')}"
              f"{_cell(row['brisque'], 9, '.2f')}"
              + (f"  ({row['note']})" if row["note"] else ""))
    print("NIQE and BRISQUE: lower is more natural. HEIC (HEVC intra) stands in for BPG.")
    print(f"wrote {os.path.join(args.out, stem + '.tfgc')}, {stem}_tfgc.png, "
          f"{os.path.basename(side_by_side)}")
    return 0
