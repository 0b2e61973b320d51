"""Benchmark: what a GAN-reversal encode costs, in CPU and wall seconds per image, and what the
search settings trade for it.

For each generator (the bundled 64x64 one, any --generator given, e.g. a trained 128x128 one,
and otherwise a 128x128 DCGAN of width 16, untrained: cost only), reverse its own samples and,
with --unseen-scenes, held-out procedural street scenes, under two settings: `before` (every
restart searched to the end, no relative tolerance: this module's defaults until 2026-11-30)
and `after` (today's `ReversalSettings()`: the best restart alone after `prune_after` steps,
early stop at `tolerance`). Reports medians of CPU s, wall s, steps, PSNR and SSIM per image.
CPU seconds count all threads of this process; on a loaded machine wall time mostly measures
the wait for a core, so compare CPU time. Writes reversal_speed.json and .md into --out.

    python bench/reversal_speed.py [--generator runs/scenes128] [--unseen-scenes] \
        [--count 3] [--out bench/results]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf

from tfgc import assets
from tfgc.networks.dcgan import DCGANGenerator
from tfgc.reversal import ReversalSettings, Reverser, from_keras, load_generator
from tfgc.utils.files import write_text_atomic

SETTINGS = {"before": dataclasses.replace(ReversalSettings(), prune_after=0, tolerance=0.0),
            "after": ReversalSettings(),
            # A candidate: prune after 25 steps and half the quantisation-aware steps.
            "lean": dataclasses.replace(ReversalSettings(), prune_after=25, finetune_steps=30)}


def quality(original: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    mse = float(np.mean((original.astype(np.float64) - out) ** 2))
    ssim = float(tf.image.ssim(tf.constant(original, tf.float32), tf.constant(out, tf.float32),
                               255.0))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10)), ssim


def measure(generator, images: dict[str, list[np.ndarray]], settings: ReversalSettings,
            loss: dict[str, str]) -> dict:
    rows = {}
    for kind, pictures in images.items():
        reverser = Reverser(generator, dataclasses.replace(settings, loss=loss[kind]))
        runs = []
        for i, image in enumerate(pictures):  # the first one includes tracing the step graphs
            start, cpu = time.perf_counter(), time.process_time()
            result = reverser.reverse(image)
            run = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
                   "steps": result.steps, "finetune_steps": result.finetune_steps}
            run["psnr"], run["ssim"] = quality(image, result.reconstruction)
            runs.append(run)
            print(f"  {kind} {i}: {json.dumps({k: round(v, 3) for k, v in run.items()})}",
                  flush=True)
        steady = runs[1:]
        rows[kind] = {"first_image": runs[0], "images": len(steady),
                      **{f"median_{k}": statistics.median(r[k] for r in steady)
                         for k in runs[0]}}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", action="append", default=[], metavar="PATH",
                        help="also measure this generator SavedModel (repeatable)")
    parser.add_argument("--unseen-scenes", action="store_true",
                        help="also reverse held-out procedural scenes (seed --scene-seed)")
    parser.add_argument("--scene-seed", type=int, default=1000)
    parser.add_argument("--count", type=int, default=3, help="images per set (+1 warm-up)")
    parser.add_argument("--variants", default="before,after",
                        help=f"comma-separated, of {', '.join(SETTINGS)}")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    variants = {v: SETTINGS[v] for v in args.variants.split(",")}
    tf.keras.utils.set_random_seed(0)
    generators = {"bundled photos64": load_generator(assets.BUNDLED_GENERATOR_DIR)}
    for path in args.generator:
        generators[os.path.basename(os.path.normpath(path))] = load_generator(path)
    if not any(g.image_shape == (128, 128) for g in generators.values()):
        generators["DCGAN 128x128, width 16 (untrained, cost only)"] = from_keras(
            DCGANGenerator(64, 128, 16), [64])
    loss = {"seen": "mse", "unseen": "ssim"}
    rows = {}
    for name, generator in generators.items():
        images = {"seen": [np.round(generator(generator.sample_latents(1, 500 + i))[0].numpy()
                                    * 255).astype(np.uint8) for i in range(args.count + 1)]}
        if args.unseen_scenes and name in [os.path.basename(os.path.normpath(p))
                                           for p in args.generator]:
            from tfgc.semantic.scenes import generate_scene

            images["unseen"] = [generate_scene(*generator.image_shape, (args.scene_seed, i)).image
                                for i in range(args.count + 1)]
        for variant, settings in variants.items():
            print(f"{name}, {variant}", flush=True)
            rows.setdefault(name, {})[variant] = measure(generator, images, settings, loss)
        rows[name]["image"] = "x".join(map(str, generator.image_shape))
    run = {"load_average": [round(v, 1) for v in os.getloadavg()], "cpus": os.cpu_count(),
           "settings": {k: dataclasses.asdict(v) for k, v in variants.items()},
           "losses": loss}
    b, a = SETTINGS["before"], SETTINGS["after"]
    lines = ["# GAN reversal: encode cost", "",
             f"`before`: {b.restarts} restarts searched together for up to {b.steps} steps "
             f"(patience {b.patience}), then {b.finetune_steps} quantisation-aware steps for "
             f"each. `after` (today's defaults): {a.restarts} restarts for {a.prune_after} "
             f"steps, then the best alone up to step {a.steps}, stopping once {a.patience} "
             f"steps improved the best by less than {a.tolerance:.0%}, then "
             f"{a.finetune_steps} quantisation-aware steps. Losses: seen (the generator's own "
             f"samples) {loss['seen']}, unseen (held-out scenes) {loss['unseen']}. Medians "
             f"over {args.count} images per set after one warm-up image; load average "
             f"{run['load_average']} on {run['cpus']} CPUs. CPU s counts all threads; an idle "
             "2-core machine should take between CPU/2 and CPU s of wall time.",
             *([f"`lean`: as `after` but the best restart goes on alone after "
                f"{SETTINGS['lean'].prune_after} steps and {SETTINGS['lean'].finetune_steps} "
                "quantisation-aware steps."] if "lean" in variants else []), "",
             "| generator | image | set | settings | steps (+ quantised) | CPU s / image "
             "| wall s / image | PSNR dB | SSIM | first image (traces) CPU / wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, by_variant in rows.items():
        for variant in variants:
            for kind, r in by_variant[variant].items():
                lines.append(
                    f"| {name} | {by_variant['image']} | {kind} | {variant} "
                    f"| {r['median_steps']:.0f} (+{r['median_finetune_steps']:.0f}) "
                    f"| {r['median_cpu_s']:.1f} | {r['median_wall_s']:.1f} "
                    f"| {r['median_psnr']:.2f} | {r['median_ssim']:.4f} "
                    f"| {r['first_image']['cpu_s']:.1f} / {r['first_image']['wall_s']:.1f} |")
    os.makedirs(args.out, exist_ok=True)
    write_text_atomic(os.path.join(args.out, "reversal_speed.json"),
                      json.dumps({"run": run, "generators": rows}, indent=1))
    write_text_atomic(os.path.join(args.out, "reversal_speed.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
