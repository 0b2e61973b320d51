"""Where the bundled model's warm colour cast comes from: short fine-tunes from its weights.

Every variant starts from the same model (`--init-from`, v1's SavedModel), trains the same number
of steps on the same data order (seed 0) through `train.py`, and is then measured through the
codec (real files) on whole Kodak images and a few training photos: mean per-channel colour bias
(reconstruction minus original, 8-bit levels), PSNR, MS-SSIM and bpp. The starting model itself is
the first row. Writes bench/results/colour_cast.{json,md}.

    python bench/colour_cast.py --init-from=V1_SAVED_MODEL --photos=photos --kodak=kodak \
        --runs=runs/colour_cast [--steps 400] [--only a_distortion,b_gan_v1]

Variants f-h ask whether a discriminator warm-up (D learns alone while E and G stay on
distortion, `d_warmup_steps`) and a decaying GAN weight (`gan_weight_end`) keep colours through
a GAN phase; they start from the bundled v2 model and write their own table:

    python bench/colour_cast.py --init-from=tfgc/assets/model --start-label=v2 \
        --only f_v2_recipe,g_d_warmup,h_d_warmup_decay --warmup 300 --steps 1200 \
        --ema-decay 0.995 --results-name colour_cast_v2 --photos=photos --kodak=kodak --runs=...

v1 is no longer the bundled model; get its SavedModel from the history, e.g.
`git worktree add ../tfgc-v1 33eb078` and pass --init-from=../tfgc-v1/tfgc/assets/model.
Workdirs in --runs are reused (train.py resumes; a finished run only gets measured again;
--skip-training measures them without starting train.py). Train wall times come from the
workdirs' file times (config.json to last checkpoint), so they include start-up and, on a shared
machine, whatever else ran.
Files from fine-tuned runs carry their context tables in the file (no fitted model tables), so
their bpp is slightly above what an export would give; compare bias, PSNR and MS-SSIM freely.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# name -> (what it tests, train.py overrides). All: GAN phase from step 0 unless said.
VARIANTS = {
    "a_distortion": ("distortion only (MSE, lambda 10)", {"warmup_steps": "STEPS"}),
    "b_gan_v1": ("v1's GAN phase: LSGAN + FM 10 + MSE 10", {"warmup_steps": 0}),
    "c_gan_lowpass16_w100": ("v1's GAN phase + 16x16-mean colour MSE, weight 100",
                             {"warmup_steps": 0, "lambda_lowpass": 100}),
    "d_gan_mse30": ("GAN phase with MSE weight 30 (GAN 3x weaker relative to MSE)",
                    {"warmup_steps": 0, "lambda_mse": 30}),
    "e_gan_lowpass16_w1000": ("v1's GAN phase + 16x16-mean colour MSE, weight 1000",
                              {"warmup_steps": 0, "lambda_lowpass": 1000}),
    # Same E/G updates in all three: WARMUP distortion-only, then GAN with MSE weight 30.
    "f_v2_recipe": ("v2's recipe: WARMUP distortion-only steps, then LSGAN + FM 10 + MSE 30",
                    {"warmup_steps": "WARMUP", "lambda_mse": 30}),
    "g_d_warmup": ("as f, but D also learns during the WARMUP steps (D warm-up)",
                   {"warmup_steps": 0, "d_warmup_steps": "WARMUP", "lambda_mse": 30}),
    "h_d_warmup_decay": ("as g, and G's GAN + FM weight falls 1 -> 0.25 over the GAN phase",
                         {"warmup_steps": 0, "d_warmup_steps": "WARMUP", "lambda_mse": 30,
                          "gan_weight_end": 0.25}),
}
KODAK_SUBSET = ("kodim01", "kodim04", "kodim07", "kodim10", "kodim15", "kodim23")
PHOTO_SUBSET = ("001", "017", "033")


def wall_seconds(workdir: str) -> float:
    """From the run's config.json (written at start) to its last checkpoint (written at the
    end): the training wall time, start-up included, of a run measured later."""
    checkpoints = os.path.join(workdir, "checkpoints")
    last = max(os.path.getmtime(os.path.join(checkpoints, f)) for f in os.listdir(checkpoints)
               if f.endswith(".index"))
    return last - os.path.getmtime(os.path.join(workdir, "config.json"))


def train_variant(name: str, overrides: dict, args) -> float:
    """Runs train.py for one variant (a finished run is only resumed to its end, a no-op)."""
    workdir = os.path.join(args.runs, name)
    if args.skip_training:
        return wall_seconds(workdir)
    flags = {"data.train": args.photos, "init_from": args.init_from, "num_steps": args.steps,
             "ema_decay": args.ema_decay, "log_every": 50, "eval_every": args.steps,
             "sample_every": args.steps, "checkpoint_every": 200, **overrides}
    command = [sys.executable, os.path.join(REPO, "train.py"),
               f"--config={os.path.join(REPO, 'configs', 'cpu_gc_c8.py')}", f"--workdir={workdir}"]
    symbols = {"STEPS": args.steps, "WARMUP": args.warmup}
    command += [f"--config.{k}={symbols.get(v, v) if isinstance(v, str) else v}"
                for k, v in flags.items()]
    os.makedirs(args.runs, exist_ok=True)
    with open(f"{workdir}.log", "a") as log:  # train.py's interval lines, beside the workdir
        subprocess.run(command, check=True, stdout=log)
    return wall_seconds(workdir)


def measure(model_path: str, images: dict[str, str], with_niqe: bool = False,
            checkpoint: str | None = None) -> dict[str, dict]:
    """Per-image metrics of a model (a workdir's `checkpoint` if given, else its latest)."""
    from PIL import Image

    from tfgc.codec import Codec, load_codec

    codec = Codec.from_workdir(model_path, checkpoint) if checkpoint else load_codec(model_path)
    return measure_codec(codec, {name: np.asarray(Image.open(path).convert("RGB"))
                                 for name, path in images.items()}, with_niqe)


def measure_codec(codec, images: dict[str, np.ndarray], with_niqe: bool = False
                  ) -> dict[str, dict]:
    """Per-image bpp, PSNR, MS-SSIM, colour bias (and NIQE) of `codec` on RGB arrays: the
    model's own colour, so files carry no colour offset (docs/bitstream.md, section type 3)."""
    from tfgc.evaluation.metrics import reference_metrics
    from tfgc.evaluation.niqe import niqe

    codec = codec.with_colour_offset(False)
    out = {}
    for name, image in images.items():
        data = codec.compress(image)
        decoded = np.asarray(codec.decompress(data))
        metrics = reference_metrics(image, decoded)
        out[name] = {"bpp": len(data) * 8 / (image.shape[0] * image.shape[1]),
                     **{k: metrics[k] for k in ("psnr", "ms_ssim", "colour_bias")}}
        if with_niqe:  # the texture target; GAN phases trade it against fidelity
            out[name]["niqe"] = float(niqe(decoded))
    return out


def summarise(per_image: dict[str, dict]) -> dict:
    bias = np.array([v["colour_bias"] for v in per_image.values()])
    return {"bpp": float(np.mean([v["bpp"] for v in per_image.values()])),
            "psnr": float(np.mean([v["psnr"] for v in per_image.values()])),
            "ms_ssim": float(np.mean([v["ms_ssim"] for v in per_image.values()])),
            "mean_bias_rgb": bias.mean(axis=0).tolist(),
            "max_abs_bias": float(np.abs(bias).max()),
            **({"niqe": float(np.mean([v["niqe"] for v in per_image.values()]))}
               if all("niqe" in v for v in per_image.values()) else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init-from", required=True, help="the starting model (v1 SavedModel)")
    parser.add_argument("--photos", required=True, help="training photos folder")
    parser.add_argument("--kodak", required=True, help="folder with kodimNN.png")
    parser.add_argument("--runs", required=True, help="where the variants' workdirs go")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=300, help="WARMUP of variants f-h")
    parser.add_argument("--start-label", default="v1", help="what --init-from is, for tables")
    parser.add_argument("--results-name", default="colour_cast",
                        help="writes bench/results/NAME.{json,md}")
    parser.add_argument("--ema-decay", type=float, default=0.99)
    parser.add_argument("--skip-training", action="store_true",
                        help="measure the workdirs already in --runs")
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--extra", action="append", default=[],
                        help="NAME=WORKDIR_OR_EXPORT: also measure this model (e.g. a final run)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()

    images = {"kodak": {n: os.path.join(args.kodak, f"{n}.png") for n in KODAK_SUBSET},
              "photos": {n: os.path.join(args.photos, f"{n}.png") for n in PHOTO_SUBSET}}
    names = args.only.split(",") if args.only else list(VARIANTS)  # in the order given
    rows = [("start", f"the starting model ({args.start_label})", args.init_from, None)]
    for name in names:
        seconds = train_variant(name, VARIANTS[name][1], args)
        rows.append((name, VARIANTS[name][0], os.path.join(args.runs, name), seconds))
    rows += [(n, "extra", p, None) for n, p in (e.split("=", 1) for e in args.extra)]

    results = []
    for name, what, path, seconds in rows:
        entry = {"variant": name, "what": what, "train_seconds": seconds,
                 "overrides": VARIANTS.get(name, (None, None))[1]}
        for subset, files in images.items():
            per_image = measure(path, files, with_niqe=subset == "kodak")
            entry[subset] = {"images": per_image, **summarise(per_image)}
        results.append(entry)
        print(json.dumps({k: entry[k] for k in ("variant",)}
                         | {s: {k: v for k, v in entry[s].items() if k != "images"}
                            for s in images}), file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.results_name}.json"), "w") as f:
        json.dump({"steps": args.steps, "warmup": args.warmup, "ema_decay": args.ema_decay,
                   "start": args.start_label,
                   "kodak_subset": KODAK_SUBSET, "photo_subset": PHOTO_SUBSET,
                   "results": results}, f, indent=2)
    lines = [f"Fine-tunes of the bundled {args.start_label} model, {args.steps} steps each "
             f"(WARMUP = {args.warmup}; batch 8, 128 px crops, "
             f"seed 0, EMA {args.ema_decay}), measured through the codec on whole images: "
             f"Kodak {', '.join(KODAK_SUBSET)}; training photos {', '.join(PHOTO_SUBSET)}. "
             "Bias = mean of reconstruction minus original per channel, 8-bit levels "
             "(mean over images; max |bias| over images and channels).", "",
             "NIQE (lower = more natural texture): mean over the Kodak images.", "",
             "| variant | what | Kodak bpp | PSNR | MS-SSIM | NIQE | bias R/G/B | max abs | "
             "photos PSNR | photos bias R/G/B | photos max abs | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        k, p = r["kodak"], r["photos"]
        seconds = f"{r['train_seconds']:.0f}" if r["train_seconds"] else ""
        lines.append(
            f"| {r['variant']} | {r['what']} | {k['bpp']:.4f} | {k['psnr']:.2f} | "
            f"{k['ms_ssim']:.4f} | {k['niqe']:.2f} | "
            f"{'/'.join(f'{b:+.1f}' for b in k['mean_bias_rgb'])} | "
            f"{k['max_abs_bias']:.1f} | {p['psnr']:.2f} | "
            f"{'/'.join(f'{b:+.1f}' for b in p['mean_bias_rgb'])} | {p['max_abs_bias']:.1f} | "
            f"{seconds} |")
    with open(os.path.join(args.out, f"{args.results_name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
