"""Benchmark: encoder-side latent optimisation (`compress --optimize STEPS`) against plain
encoding, with the same model and decoder.

For every image and every STEPS value: file bpp, PSNR, MS-SSIM, NIQE, the mean colour offset
of the reconstruction (R, G, B; a colour cast shows as a non-zero offset) and the encode time.
Writes results.json, results.md and side-by-side crops (original | plain | optimised) into
--out; per-image results are kept in per_image.json so an interrupted run resumes.

    python bench/latent_optimisation.py --images KODAK_DIR --steps 0,15 \
        --out bench/results/latent_optimisation [--model PATH] [--limit N] [--every K]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgc.codec import DEFAULT_OPTIMIZE_LOSS, load_codec
from tfgc.data.images import list_images, load_image, write_png
from tfgc.evaluation.crops import labelled_panel, pick_crop
from tfgc.evaluation.metrics import ms_ssim, psnr
from tfgc.evaluation.niqe import niqe
from tfgc.utils.files import write_text_atomic

METRICS = ("bpp", "psnr", "ms_ssim", "niqe", "encode_s", "encode_cpu_s", "steps_done")


def measure(codec, image: np.ndarray, steps: int, loss: str) -> tuple[dict, np.ndarray]:
    """One encode: its quality, wall and CPU seconds (all threads of this process) and the
    optimisation steps made (early stopping may make fewer)."""
    done = [0]

    def count(step, _):
        done[0] = step

    start, cpu = time.perf_counter(), time.process_time()
    data = codec.compress_with_stats(image, optimize_steps=steps, optimize_loss=loss,
                                     progress=count).data
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = codec.decompress(data)
    offset = (out.astype(np.float64) - image.astype(np.float64)).mean(axis=(0, 1))
    return {"bpp": 8 * len(data) / (image.shape[0] * image.shape[1]), "psnr": psnr(image, out),
            "ms_ssim": ms_ssim(image, out)[0], "niqe": niqe(out), "encode_s": seconds,
            "encode_cpu_s": cpu, "steps_done": float(done[0]),
            "colour_offset_rgb": [round(float(v), 2) for v in offset]}, out


def crop_panel(path: str, image: np.ndarray, outputs: dict[int, np.ndarray],
               rows: dict[int, dict]) -> None:
    from PIL import Image

    top, left, side = pick_crop(image)
    panels = [labelled_panel(image[top:top + side, left:left + side], ["original", ""])]
    for steps, out in outputs.items():
        r = rows[str(steps)]
        name = "plain" if steps == 0 else f"optimised, {steps} steps"
        panels.append(labelled_panel(out[top:top + side, left:left + side], [
            name, f"{r['bpp']:.4f} bpp, {r['psnr']:.2f} dB, MS-SSIM {r['ms_ssim']:.3f}"]))
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1),
                               max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width + 4
    write_png(path, np.asarray(canvas))


def summarise(per_image: dict, steps_list: list[int]) -> dict:
    summary = {}
    for steps in steps_list:
        rows = [r[str(steps)] for r in per_image.values() if str(steps) in r]
        if not rows:
            continue
        summary[str(steps)] = {
            "images": len(rows),
            **{f"mean_{m}": statistics.fmean(r[m] for r in rows) for m in METRICS},
            "median_encode_s": statistics.median(r["encode_s"] for r in rows),
            "median_encode_cpu_s": statistics.median(r["encode_cpu_s"] for r in rows),
            "mean_abs_colour_offset": statistics.fmean(
                float(np.abs(r["colour_offset_rgb"]).mean()) for r in rows)}
    if "0" in summary:
        plain = [r["0"] for r in per_image.values() if "0" in r]
        for steps in steps_list:
            if steps == 0 or str(steps) not in summary:
                continue
            pairs = [(r["0"], r[str(steps)]) for r in per_image.values() if str(steps) in r]
            summary[str(steps)]["vs_plain"] = {
                "delta_psnr_mean": statistics.fmean(b["psnr"] - a["psnr"] for a, b in pairs),
                "delta_ms_ssim_mean": statistics.fmean(b["ms_ssim"] - a["ms_ssim"]
                                                       for a, b in pairs),
                "bpp_ratio_mean": statistics.fmean(b["bpp"] / a["bpp"] for a, b in pairs),
                "images_with_more_bits": sum(b["bpp"] > a["bpp"] for a, b in pairs),
                "encode_time_ratio_median": statistics.median(
                    b["encode_s"] / a["encode_s"] for a, b in pairs)}
        del plain
    return summary


def markdown(summary: dict, run: dict, per_image: dict, steps_list: list[int]) -> str:
    lines = ["# Encoder-side latent optimisation", "",
             f"Model `{run['model']}`, loss `{run['loss']}`, {run['images']} image(s) from "
             f"`{run['images_dir']}`; load average during the run {run['load_average']}.", "",
             "Encode times exclude the one-off graph trace per image size (measured separately "
             f"below); CPU s counts all threads of the process. {run.get('trace', '')}", "",
             "| encoding | images | bpp | PSNR dB | MS-SSIM | NIQE | mean abs colour offset "
             "| steps made | encode s wall (median) | encode s CPU (median) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for steps in steps_list:
        s = summary.get(str(steps))
        if s:
            name = "plain" if steps == 0 else f"--optimize {steps}"
            lines.append(f"| {name} | {s['images']} | {s['mean_bpp']:.4f} | {s['mean_psnr']:.2f} "
                         f"| {s['mean_ms_ssim']:.4f} | {s['mean_niqe']:.2f} "
                         f"| {s['mean_abs_colour_offset']:.2f} | {s['mean_steps_done']:.1f} "
                         f"| {s['median_encode_s']:.1f} | {s['median_encode_cpu_s']:.1f} |")
    for steps in steps_list:
        vs = summary.get(str(steps), {}).get("vs_plain")
        if vs:
            lines += ["", f"`--optimize {steps}` vs plain, per image: PSNR "
                          f"{vs['delta_psnr_mean']:+.2f} dB, MS-SSIM "
                          f"{vs['delta_ms_ssim_mean']:+.4f}, bits x{vs['bpp_ratio_mean']:.3f} "
                          f"({vs['images_with_more_bits']} image(s) with more bits), encode time "
                          f"x{vs['encode_time_ratio_median']:.1f} (median)."]
    lines += ["", "| image | " + " | ".join(
        f"{'plain' if s == 0 else f'opt {s}'} bpp / dB / MS-SSIM" for s in steps_list) + " |",
        "|---|" + "---|" * len(steps_list)]
    for name, rows in per_image.items():
        cells = [f"{rows[str(s)]['bpp']:.4f} / {rows[str(s)]['psnr']:.2f} / "
                 f"{rows[str(s)]['ms_ssim']:.3f}" if str(s) in rows else "-" for s in steps_list]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of images (e.g. Kodak)")
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--steps", default="0,15", help="comma-separated; 0 = plain")
    parser.add_argument("--loss", default=DEFAULT_OPTIMIZE_LOSS)
    parser.add_argument("--limit", type=int, default=None, help="first N images (after --every)")
    parser.add_argument("--every", type=int, default=1, help="every K-th image")
    parser.add_argument("--crops", type=int, default=4, help="crops for the first N images")
    parser.add_argument("--out", default="bench/results/latent_optimisation")
    args = parser.parse_args()
    steps_list = sorted({int(s) for s in args.steps.split(",")})

    paths = list_images(args.images)[::args.every][:args.limit]
    codec = load_codec(args.model)
    os.makedirs(os.path.join(args.out, "crops"), exist_ok=True)
    cache_path = os.path.join(args.out, "per_image.json")
    per_image = {}
    if os.path.exists(cache_path):
        with open(cache_path) as f:
            per_image = json.load(f)
    shapes = {load_image(p).pixels.shape for p in paths}
    trace = []
    for shape in shapes:  # graph tracing (once per image size) stays out of the timings
        start, cpu = time.perf_counter(), time.process_time()
        codec.compress(np.zeros(shape, np.uint8), optimize_steps=1, optimize_loss=args.loss)
        trace.append(f"First optimised encode of a {shape[1]}x{shape[0]} image (1 step, "
                     f"traces the step): {time.process_time() - cpu:.1f} s CPU, "
                     f"{time.perf_counter() - start:.1f} s wall.")
    for i, path in enumerate(paths):
        name = os.path.basename(path)
        image = load_image(path).pixels
        rows = per_image.setdefault(name, {})
        outputs = {}
        for steps in steps_list:
            if str(steps) in rows and i >= args.crops:
                continue
            row, outputs[steps] = measure(codec, image, steps, args.loss)
            rows.setdefault(str(steps), row)
            print(f"{name} steps={steps}: " + ", ".join(
                f"{k}={v:.4f}" for k, v in row.items() if isinstance(v, float)), flush=True)
        write_text_atomic(cache_path, json.dumps(per_image, indent=1))
        if i < args.crops:
            crop_panel(os.path.join(args.out, "crops", name), image, outputs, rows)
    run = {"model": codec.name, "loss": args.loss, "images": len(paths),
           "images_dir": os.path.basename(os.path.normpath(args.images)),
           "steps": steps_list, "load_average": [round(v, 1) for v in os.getloadavg()],
           "trace": " ".join(trace),
           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()}
    per_image = {k: v for k, v in per_image.items() if k in {os.path.basename(p) for p in paths}}
    summary = summarise(per_image, steps_list)
    write_text_atomic(os.path.join(args.out, "results.json"), json.dumps(
        {"run": run, "summary": summary, "per_image": per_image}, indent=1))
    write_text_atomic(os.path.join(args.out, "results.md"),
                      markdown(summary, run, per_image, steps_list))
    print(markdown(summary, run, per_image, steps_list))


if __name__ == "__main__":
    main()
