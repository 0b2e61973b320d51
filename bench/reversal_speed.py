"""Benchmark: what a GAN-reversal encode costs, in CPU and wall seconds, per image and per step.

For the bundled 64x64 generator and a 128x128 DCGAN of the same width (untrained: only its
cost is measured, so its images are its own samples and early stopping says nothing), reverse
a few of the generator's own samples with the default settings (`ReversalSettings()`). CPU
seconds count all threads of this process; on a loaded machine wall time mostly measures the
wait for a core, so compare CPU time. Writes reversal_speed.json and .md into --out.

    python bench/reversal_speed.py [--count 3] [--out bench/results]
"""

from __future__ import annotations

import argparse
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


def measure(generator, count: int) -> dict:
    settings = ReversalSettings()
    reverser = Reverser(generator, settings)
    images = [np.round(generator(generator.sample_latents(1, 500 + i))[0].numpy() * 255)
              .astype(np.uint8) for i in range(count + 1)]
    runs = []
    for image in images:  # the first one includes tracing the step graphs
        start, cpu = time.perf_counter(), time.process_time()
        result = reverser.reverse(image)
        runs.append({"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
                     "steps": result.steps + settings.finetune_steps})
    steady = runs[1:]
    return {"image": "x".join(map(str, generator.image_shape)), "restarts": settings.restarts,
            "first_image": runs[0],
            "median_cpu_s": statistics.median(r["cpu_s"] for r in steady),
            "median_wall_s": statistics.median(r["wall_s"] for r in steady),
            "median_steps": statistics.median(r["steps"] for r in steady),
            "cpu_ms_per_step": 1000 * statistics.median(r["cpu_s"] / r["steps"] for r in steady)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3, help="images per generator (+1 warm-up)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    tf.keras.utils.set_random_seed(0)
    generators = {"bundled photos64": load_generator(assets.BUNDLED_GENERATOR_DIR),
                  "DCGAN 128x128, width 16 (untrained, cost only)":
                      from_keras(DCGANGenerator(64, 128, 16), [64])}
    rows = {name: measure(g, args.count) for name, g in generators.items()}
    run = {"load_average": [round(v, 1) for v in os.getloadavg()], "cpus": os.cpu_count(),
           "settings": ReversalSettings().__dict__}
    lines = ["# GAN reversal: encode cost", "",
             f"Default settings ({run['settings']['restarts']} restarts searched together, "
             f"up to {run['settings']['steps']} search + {run['settings']['finetune_steps']} "
             f"quantisation-aware steps), {args.count} images per generator after one warm-up "
             f"image; load average {run['load_average']} on {run['cpus']} CPUs. CPU s counts "
             "all threads; an idle 2-core machine should take between CPU/2 and CPU s of wall "
             "time.", "",
             "| generator | image | steps | CPU ms / step | CPU s / image | wall s / image "
             "| first image (traces) CPU / wall s |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['image']} | {r['median_steps']:.0f} "
                     f"| {r['cpu_ms_per_step']:.1f} | {r['median_cpu_s']:.1f} "
                     f"| {r['median_wall_s']:.1f} | {r['first_image']['cpu_s']:.1f} / "
                     f"{r['first_image']['wall_s']:.1f} |")
    os.makedirs(args.out, exist_ok=True)
    write_text_atomic(os.path.join(args.out, "reversal_speed.json"),
                      json.dumps({"run": run, "generators": rows}, indent=1))
    write_text_atomic(os.path.join(args.out, "reversal_speed.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
