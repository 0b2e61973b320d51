"""Measures the CPU configs' choices: norm, upsampling and latent init, each against the paper's.

Trains configs/tiny.py variants for the same number of distortion-only steps on the bundled
samples (same seed, same data order) and reports eval PSNR, MS-SSIM and symbol entropy. Writes
bench/results/cpu_config_choices.{json,md}.

    python bench/cpu_config_choices.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {
    "tiny (channel norm, resize-conv, init std 1)": {},
    "instance norm everywhere (paper)": {"encoder_norm": "instance", "generator_norm": "instance",
                                         "generator_upsample_norm": "instance"},
    "transposed-conv upsampling (paper)": {"upsampling": "transpose"},
    "default init (paper)": {"latent_init_std": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()

    from configs import tiny
    from tfgc.training.trainer import train

    results = []
    for name, overrides in VARIANTS.items():
        config = tiny.get_config()
        config.num_steps = config.warmup_steps = args.steps
        config.log_every = config.checkpoint_every = args.steps
        config.eval_every = config.sample_every = args.steps
        for key, value in overrides.items():
            setattr(config.model, key, value)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            model = train(config, workdir)
            from tfgc.data import pipeline

            files = pipeline.find_images("")
            data = pipeline.eval_dataset(files, config.data.eval_crop_size, 4)
            metrics = model.evaluate(data, verbose=0, return_dict=True)
        results.append({"variant": name, "overrides": overrides, "steps": args.steps,
                        "seconds": time.perf_counter() - start,
                        **{k: float(metrics[k]) for k in ("psnr", "ms_ssim", "entropy_bpp")}})
        print(results[-1], file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cpu_config_choices.json"), "w") as f:
        json.dump({"steps": args.steps, "data": "bundled samples, 128 crops, batch 4",
                   "results": results}, f, indent=2)
    lines = [f"Distortion-only training of configs/tiny.py variants, {args.steps} steps each, "
             "same seed; eval on 128 px center crops of the 4 bundled samples (EMA off).", "",
             "| variant | PSNR dB | MS-SSIM | entropy bpp | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['psnr']:.2f} | {r['ms_ssim']:.4f} | "
              f"{r['entropy_bpp']:.4f} | {r['seconds']:.0f} |" for r in results]
    with open(os.path.join(args.out, "cpu_config_choices.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
