"""Measures the CPU configs' choices: norm, upsampling and latent init; capacity and rate.

`--suite tiny` (default): configs/tiny.py variants trained for the same number of
distortion-only steps on the bundled samples (same seed, same data order); eval PSNR, MS-SSIM
and symbol entropy on 128 px crops. Writes bench/results/cpu_config_choices.{json,md}.

`--suite capacity`: configs/cpu_gc_c8.py (the bundled model's config) from scratch through
train.py, distortion-only, each variant at the same training FLOPs: the base-cost variants run
`--steps`, the ~1.4x-cost ones `--steps` x 0.714 (the table gives every run's measured
GFLOP/step and total, so the budget's equality is checked, not assumed). Measured through the
codec on whole Kodak images (bench/colour_cast.py's subset): medians of bpp (real files),
PSNR and MS-SSIM, and the colour bias. Writes bench/results/cpu_capacity_rate.{json,md}.

    python bench/cpu_config_choices.py [--steps 300]
    python bench/cpu_config_choices.py --suite capacity --steps 980 --photos=photos \
        --kodak=kodak --runs=runs/cap [--skip-training] [--only base_c8,rb11]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

VARIANTS = {
    "tiny (channel norm, resize-conv, init std 1)": {},
    "instance norm everywhere (paper)": {"encoder_norm": "instance", "generator_norm": "instance",
                                         "generator_upsample_norm": "instance"},
    "transposed-conv upsampling (paper)": {"upsampling": "transpose"},
    "default init (paper)": {"latent_init_std": 0.0},
}


# name -> (what changes, overrides of configs/cpu_gc_c8.py, share of --steps). The three
# capacity variants each add ~0.4x the base model's training FLOPs in a different place.
CAPACITY = {
    "base_c8": ("cpu_gc_c8: width 1/6, 6 residual blocks, upsampling u80-u40-u20-u10, C=8, L=5",
                {}, 1.0),
    "wide_hr": ("2x wider at the two highest resolutions: u80-u40-u40-u20",
                {"model.upsample_filters": (480, 240, 240, 120)}, 0.714),
    "rb11": ("11 residual blocks instead of 6", {"model.num_residual_blocks": 11}, 0.714),
    "width_1_5": ("width multiplier 1/5 instead of 1/6 (E, G and D 1.2x wider)",
                  {"model.width_multiplier": 0.2}, 0.714),
    "c4_l13": ("rate: C=4, L=13 centers -3..3 step 0.5 (bound 0.058 bpp vs C=8 L=5's 0.073)",
               {"model.num_channels": 4,
                "model.centers": tuple(c / 2 for c in range(-6, 7))}, 1.0),
}
CROP, BATCH = 128, 8  # configs/cpu_gc_c8.py's


def _flag(key: str, value) -> str:
    text = "(" + ",".join(map(str, value)) + ")" if isinstance(value, tuple) else value
    return f"--config.{key}={text}"


def train_capacity_variant(name: str, overrides: dict, steps: int, args) -> dict:
    """train.py from scratch, distortion-only; returns its CPU and wall seconds (also kept in
    the workdir's train_cost.json, which --skip-training reads)."""
    workdir = os.path.join(args.runs, name)
    cost_file = os.path.join(workdir, "train_cost.json")
    if not args.skip_training:
        flags = {"data.train": args.photos, "num_steps": steps, "warmup_steps": steps,
                 "ema_decay": 0, "log_every": 100, "eval_every": steps, "checkpoint_every": steps,
                 "sample_every": 100_000, **overrides}
        command = [sys.executable, os.path.join(REPO, "train.py"),
                   f"--config={os.path.join(REPO, 'configs', 'cpu_gc_c8.py')}",
                   f"--workdir={workdir}", *(_flag(k, v) for k, v in flags.items())]
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cost = {"cpu_seconds": (after.ru_utime + after.ru_stime)
                - (before.ru_utime + before.ru_stime),
                "wall_seconds": time.time() - start, "loadavg_end": os.getloadavg()}
        with open(cost_file, "w") as f:
            json.dump(cost, f)
    if not os.path.exists(cost_file):
        return {}
    with open(cost_file) as f:
        return json.load(f)


def train_step_gflops(overrides: dict) -> float:
    """GFLOP of one distortion-only training step (batch 8, 128 px crops) of the variant, from
    the live ops of its traced train_step (bench/train_throughput.py's counter)."""
    import tensorflow as tf
    from train_throughput import step_flops

    from configs import cpu_gc_c8
    from tfgc.training.trainer import build_model

    config = cpu_gc_c8.get_config()
    config.update_from_flattened_dict(overrides)
    model, _ = build_model(config)
    graph = tf.function(model.train_step).get_concrete_function(
        tf.TensorSpec([BATCH, CROP, CROP, 3], tf.float32)).graph
    return sum(step_flops(graph)[0].values()) / 1e9


def capacity_suite(args) -> None:
    from colour_cast import KODAK_SUBSET, measure

    names = [n for n in CAPACITY if not args.only or n in args.only.split(",")]
    images = {n: os.path.join(args.kodak, f"{n}.png") for n in KODAK_SUBSET}
    results = []
    for name in names:
        what, overrides, share = CAPACITY[name]
        steps = round(args.steps * share)
        cost = train_capacity_variant(name, overrides, steps, args)
        with open(os.path.join(args.runs, name, "config.json")) as f:
            ran = json.load(f)["num_steps"]
        gflops = train_step_gflops(overrides)
        per_image = measure(os.path.join(args.runs, name), images)
        bias = [max(abs(b) for b in v["colour_bias"]) for v in per_image.values()]
        results.append({
            "variant": name, "what": what, "overrides": {k: list(v) if isinstance(v, tuple)
                                                         else v for k, v in overrides.items()},
            "steps": ran, "gflop_per_step": gflops, "train_pflop": ran * gflops / 1e6, **cost,
            **{k: statistics.median(v[k] for v in per_image.values())
               for k in ("bpp", "psnr", "ms_ssim")},
            "max_abs_bias": max(bias), "images": per_image})
        print(json.dumps({k: v for k, v in results[-1].items() if k != "images"}),
              file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cpu_capacity_rate.json"), "w") as f:
        json.dump({"base_steps": args.steps, "kodak_subset": KODAK_SUBSET,
                   "loadavg_at_measurement": os.getloadavg(), "results": results}, f, indent=2)
    lines = [f"configs/cpu_gc_c8.py variants trained from scratch through train.py, "
             f"distortion-only (MSE), batch {BATCH} of {CROP} px crops, seed 0, one run each, "
             "at about equal training FLOPs; measured through the codec on whole Kodak images "
             f"({', '.join(KODAK_SUBSET)}): medians over the images; bias = worst |mean "
             "channel error| in 8-bit levels over images. Files carry their context tables "
             "(no fitted model tables), so bpp is a little above an export's. CPU s: the "
             "train.py process's user + system time on the shared 2-core machine.", "",
             "| variant | what | steps | GFLOP/step | total PFLOP | CPU s | wall s | bpp | "
             "PSNR dB | MS-SSIM | worst bias |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['what']} | {r['steps']} | {r['gflop_per_step']:.1f} | "
            f"{r['train_pflop']:.3f} | {r.get('cpu_seconds', 0):.0f} | "
            f"{r.get('wall_seconds', 0):.0f} | {r['bpp']:.4f} | {r['psnr']:.2f} | "
            f"{r['ms_ssim']:.4f} | {r['max_abs_bias']:.1f} |")
    with open(os.path.join(args.out, "cpu_capacity_rate.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("tiny", "capacity"), default="tiny")
    parser.add_argument("--steps", type=int, default=300,
                        help="tiny: steps per variant; capacity: steps of the base-cost ones")
    parser.add_argument("--photos", help="capacity: training photos folder")
    parser.add_argument("--kodak", help="capacity: folder with kodimNN.png")
    parser.add_argument("--runs", help="capacity: where the variants' workdirs go")
    parser.add_argument("--skip-training", action="store_true",
                        help="capacity: measure the workdirs already in --runs")
    parser.add_argument("--only", default="", help="capacity: comma-separated variant names")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    if args.suite == "capacity":
        if not (args.kodak and args.runs and (args.photos or args.skip_training)):
            parser.error("--suite capacity needs --kodak, --runs and --photos")
        capacity_suite(args)
        return

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
