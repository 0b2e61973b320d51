"""GC vs GC(D+) (label map fed to D in training), same steps, on procedural street scenes.

Writes procedural scenes (train and a held-out val split), trains the CPU SC config's
networks as plain GC and as GC(D+) with the same seed, data order and steps (distortion-only
warm-up, then the GAN phase, where D+ differs), and measures on the val scenes, whole
128x256 images: PSNR, MS-SSIM and the symbols' empirical entropy. The paper's measure for
D+ is mean IoU of a segmentation network on the outputs (Fig. 7); we have no segmentation
network here, so this bench reports fidelity only. Writes bench/results/semantic_dplus.{json,md}.

    nice -n 15 python bench/semantic_dplus.py [--warmup 150 --gan 150]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _evaluate(model, files) -> dict[str, float]:
    import numpy as np
    import tensorflow as tf

    from tfgc.data.images import read_rgb
    from tfgc.metrics import ms_ssim, psnr
    from tfgc.models.gc import symbol_entropy_bpp

    images = tf.constant(np.stack([read_rgb(p) for p in files]), tf.float32) / 255.0
    reconstructions = tf.clip_by_value(model(images, training=False), 0.0, 1.0)
    symbols = model.analysis(images)
    return {
        "psnr": float(tf.reduce_mean(psnr(images, reconstructions))),
        "ms_ssim": float(tf.reduce_mean(ms_ssim(images, reconstructions))),
        "entropy_bpp": float(symbol_entropy_bpp(symbols, model.num_centers,
                                                model.downsampling_factor ** 2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=150, help="distortion-only steps")
    parser.add_argument("--gan", type=int, default=150, help="GAN steps after the warm-up")
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()

    from configs import cpu_sc_scenes
    from tfgc.data.labeled import find_labeled
    from tfgc.semantic.scenes import write_scenes
    from tfgc.training.trainer import train

    results = []
    with tempfile.TemporaryDirectory() as root:
        write_scenes(root, args.scenes, 128, 256, seed=0)
        write_scenes(root, 16, 128, 256, seed=1, split="val")
        val = find_labeled(root, "cityscapes", "val").images
        for mode in ("gc", "gc_dplus"):
            config = cpu_sc_scenes.get_config()
            config.model.mode = mode
            if mode == "gc":
                config.model.condition_channels = 0  # plain GC ignores the label maps
                config.model.label_set = ""
            config.data.train = root
            config.data.eval_split = "val"
            config.warmup_steps = args.warmup
            config.num_steps = args.warmup + args.gan
            config.log_every = config.checkpoint_every = 50
            config.eval_every = config.sample_every = config.num_steps
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as workdir:
                model = train(config, workdir)
                metrics = _evaluate(model, val)
            results.append({"mode": mode, "warmup_steps": args.warmup, "gan_steps": args.gan,
                            "seconds": round(time.perf_counter() - start, 1), **metrics})
            print(results[-1], file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "semantic_dplus.json"), "w") as f:
        json.dump(results, f, indent=2)
    lines = [
        "# GC vs GC(D+) on procedural street scenes",
        "",
        f"`bench/semantic_dplus.py`: configs/cpu_sc_scenes.py networks, {args.scenes} training "
        f"scenes, {args.warmup} distortion-only + {args.gan} GAN steps, same seed; 16 held-out "
        "scenes (128x256, whole images). One run, shared 2-core CPU. No segmentation network "
        "is available, so the paper's mIoU is not measured.",
        "",
        "| mode | PSNR dB | MS-SSIM | entropy bpp | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['mode']} | {r['psnr']:.2f} | {r['ms_ssim']:.4f} | "
                     f"{r['entropy_bpp']:.4f} | {r['seconds']:.0f} |")
    with open(os.path.join(args.out, "semantic_dplus.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
