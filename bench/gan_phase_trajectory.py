"""Long GAN phases from the bundled model: metrics at every kept checkpoint of one or more runs.

Issue 14's open question after session 4: does recipe h (D warm-up, then G's GAN + FM weight
falling 1 -> gan_weight_end) keep colour over >= 3,000 GAN steps while NIQE comes back to the
starting model's, and does a second seed agree? Every checkpoint of each workdir is measured
through the codec on the same 6 whole Kodak images as bench/colour_cast.py (bpp, PSNR,
MS-SSIM, NIQE, per-channel colour bias), plus the starting model. Rerunning measures only the
checkpoints not yet in the JSON, so it can follow runs that are still training. Writes
bench/results/NAME.{json,md}.

    python bench/gan_phase_trajectory.py --start=tfgc/assets/model --kodak=kodak \
        --run seed0=runs/h_long_seed0 --run seed1=runs/h_long_seed1 [--results-name NAME]

The runs (train.py, warm-started from the bundled v2; their config.json has every setting):

    python train.py --config=configs/cpu_gc_c8.py --workdir=runs/h_long_seed0 \
        --config.data.train=photos --config.init_from=tfgc/assets/model \
        --config.num_steps=3300 --config.warmup_steps=0 --config.d_warmup_steps=300 \
        --config.gan_weight_end=0.25 --config.lambda_mse=30 --config.ema_decay=0.995 \
        --config.seed=0 --config.checkpoint_every=500 --config.keep_checkpoints=10

With `--kodak24 v2=V2/results.json --kodak24 CANDIDATE=results.json` (the `results.json` of
`python -m tfgc evaluate` on all 24 Kodak images, the bundled v2 first) it also applies the rule
below to whole Kodak-24 and writes the verdict under the table.

Files from training checkpoints carry their context tables (no fitted model tables), so their
bpp is ~1% above an export's at the same weights: compare bpp only within this table.

`--experiment` picks the question and its decision rule (EXPERIMENTS, each written before its
runs were measured): `v4` (the default, above) or `lowpass` (session 6: recipe h from the
bundled v3 with the low-frequency colour term `lambda_lowpass`, screened on three more images,
v3's worst for colour on Kodak-24):

    python bench/gan_phase_trajectory.py --experiment=lowpass --start=tfgc/assets/model \
        --start-label=v3 --kodak=kodak --run lowpass16_w300=runs/lowpass16_w300 \
        --results-name=colour_cast_lowpass \
        [--kodak24 v3=docs/results/kodak/results.json --kodak24 CANDIDATE=results.json]

    python train.py --config=configs/cpu_gc_c8.py --workdir=runs/lowpass16_w300 \
        --config.data.train=photos --config.init_from=tfgc/assets/model \
        --config.num_steps=2800 --config.warmup_steps=0 --config.d_warmup_steps=300 \
        --config.gan_weight_end=0.25 --config.lambda_mse=30 --config.ema_decay=0.995 \
        --config.lambda_lowpass=300 --config.lowpass_factor=16 \
        --config.seed=0 --config.checkpoint_every=500 --config.keep_checkpoints=10

`--experiment=fidelity` (session 7, bench/results/gan7_fidelity.md): the final checkpoints of
colour_lr.md's run B continued and of B's recipe with an MS-SSIM term, screened on the same 9
images against v3; with `--kodak24-own LABEL=RESULTS_JSON` (evaluate with
`--no-colour-offset --baselines none`) the Kodak-24 verdict also checks the model's own colour:

    python bench/gan_phase_trajectory.py --experiment=fidelity --start=tfgc/assets/model \
        --start-label=v3 --kodak=kodak --final-only --results-name=gan7_fidelity \
        --run B_continued=runs/Bcont --run msssim5=runs/msssim5 \
        [--kodak24 v3=docs/results/kodak_colour_offset/results.json \
         --kodak24 CANDIDATE=results.json --kodak24-own v3=V3_OWN/results.json \
         --kodak24-own CANDIDATE=OWN/results.json]

`--experiment=capacity` (session 9, bench/results/gan9_capacity.md): C=4/L=13 warm-started
from v3's body; the end of the distortion phase and the final checkpoint only:

    python bench/gan_phase_trajectory.py --experiment=capacity --start=tfgc/assets/model \
        --start-label=v3 --kodak=kodak --steps=1500,4500 --results-name=gan9_capacity_screen \
        --run c4_l13=runs/c4_l13

    python train.py --config=configs/cpu_gc_c4_l13.py --workdir=runs/c4_l13 \
        --config.data.train=photos --config.init_from=tfgc/assets/model \
        --config.init_from_new_bottleneck=True --config.num_steps=4500 \
        --config.warmup_steps=1200 --config.d_warmup_steps=300 --config.gan_weight_end=0.25 \
        --config.lambda_mse=30 --config.ema_decay=0.995 --config.seed=0 \
        --config.checkpoint_every=500 --config.keep_checkpoints=10

`--experiment=dscale` (session 10, bench/results/gan10_dscale.md): per-scale D weights in G's
GAN and FM terms favouring the coarse scales, against an equal-weights control of the same
length; the final checkpoints (and the lever's verdict against the control):

    python bench/gan_phase_trajectory.py --experiment=dscale --start=tfgc/assets/model \
        --start-label=v3 --kodak=kodak --steps=2000 --results-name=gan10_dscale_screen \
        --run coarse=runs/coarse --run equal=runs/equal

    python train.py --config=configs/cpu_gc_c8.py --workdir=runs/coarse \
        --config.data.train=photos --config.init_from=tfgc/assets/model \
        --config.num_steps=2000 --config.warmup_steps=0 --config.d_warmup_steps=300 \
        --config.gan_weight_end=0.25 --config.lambda_mse=30 --config.ema_decay=0.995 \
        --config.seed=0 --config.log_every=50 --config.checkpoint_every=500 \
        --config.keep_checkpoints=10 --config.sample_every=2000 --config.eval_every=2000 \
        --config.d_scale_weights="(0.25,0.5,1.0)"

(the control: the same without `d_scale_weights`, in `runs/equal`; the seed-1 replication:
both again with `--config.seed=1`, as `--run coarse_seed1=... --run equal_seed1=...`).

The follow-up (gan7b): msssim5's step 2,800 resumed to 3,800 steps with `--config.gan_weight_end=1
--config.beta_rate=10` and `--config.lambda_ms_ssim=1.5` or `0`, screened the same way:

    python bench/gan_phase_trajectory.py --experiment=fidelity --start=tfgc/assets/model \
        --start-label=v3 --kodak=kodak --final-only --results-name=gan7b_fidelity_screen \
        --run msssim5=runs/msssim5 --run ms1p5_g1_r10=runs/ms1p5 --run ms0_g1_r10=runs/ms0
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Written before any result of the long runs was looked at (issue 14, session 5).
V4_RULE = (
    "Decision rule (fixed before the runs were measured): the candidate is seed 0's final "
    "checkpoint (3,000 GAN steps); seed 1 is the replication. It replaces v2 only if, on "
    "Kodak-24 through `python -m tfgc evaluate` (whole files, plain encoding, exported model), "
    "bpp <= v2's + 2% and every file <= 0.08 bpp, PSNR and MS-SSIM >= v2's, the worst "
    "per-image channel bias < v2's 9.4 levels and the mean |bias| over images and channels "
    "below v2's, and NIQE <= v2's + 0.25. The 6-image table below is the screen: Kodak-24 is "
    "run only for a candidate that passes the same conditions here against the v2 row.")

# Issue 14's NIQE target: within 1.2x of the originals' mean NIQE on Kodak-24.
NIQE_TARGET_FACTOR = 1.2

# Written before any checkpoint of the run was measured (issue 14, session 6).
LOWPASS_RULE = (
    "Decision rule (fixed before the run was measured): every kept checkpoint is screened on "
    "the 9 images against the starting model's row (v3, the bundled model, same images): "
    "worst per-image channel |bias| < 2 levels on all 9, PSNR >= v3's, MS-SSIM >= v3's, NIQE "
    "<= v3's + 0.10, bpp <= v3's + 2% (a checkpoint's files carry context tables, ~1% above an "
    "export's). The candidate is the final checkpoint if it passes, else the latest kept "
    "checkpoint that passes; if none passes, nothing is bundled. A candidate replaces v3 only "
    "if, on Kodak-24 through `python -m tfgc evaluate` (whole files, plain encoding, exported "
    "model), it beats v3 on colour (more images under 2 levels than v3's, worst bias and mean "
    "|bias| below v3's) without losing elsewhere (PSNR and MS-SSIM >= v3's, bpp <= v3's + 2%, "
    "every file <= 0.08 bpp, NIQE <= 1.2x the originals').")

V4_TITLE = (
    "Recipe h over a long GAN phase, warm-started from the bundled {start}: every kept "
    "checkpoint measured through the codec on whole Kodak images {images} (means over the "
    "{count}). Bias = mean of reconstruction minus original per channel, 8-bit levels; mean "
    "|bias| over images and channels; worst = largest |bias| of any image and channel. GAN "
    "weight = G's GAN + FM weight at that step (0 = D warm-up, G on distortion only). Minutes = "
    "wall time from the run's start to the checkpoint, on 2 cores shared with other jobs (seeds "
    "0 and 1 ran side by side; seed 2, added after the decision, ran alone with a Kodak "
    "evaluation).")

LOWPASS_TITLE = (
    "Recipe h from the bundled {start} with the low-frequency colour term on (MSE between the "
    "lowpass_factor x lowpass_factor average-pooled image and reconstruction, weight "
    "lambda_lowpass; the runs' settings are in the JSON): every kept checkpoint measured "
    "through the codec on whole Kodak images {images} (means over the {count}; the first six "
    "are bench/results/colour_cast_v4.md's, the last three v3's worst for colour on Kodak-24). "
    "Bias = mean of reconstruction minus original per channel, 8-bit levels; mean |bias| over "
    "images and channels; worst = largest |bias| of any image and channel. GAN weight = G's "
    "GAN + FM weight at that step (0 = D warm-up). Minutes = wall time from the run's start to "
    "the checkpoint, on 2 cores shared with three other engineers' jobs.")


def checkpoints(workdir: str) -> list[str]:
    """The workdir's kept checkpoints (prefixes), oldest first."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    return list(state.all_model_checkpoint_paths) if state else []


def portable(config: dict) -> dict:
    """A run's config as published: data folders by name only (the runs read them from this
    machine's paths, which mean nothing to a reader)."""
    data = config.get("data", {})
    for field in ("train", "eval"):
        if os.path.isabs(data.get(field, "")):
            data[field] = os.path.basename(os.path.normpath(data[field]))
    return config


def summarise(per_image: dict[str, dict]) -> dict:
    from colour_cast import summarise as colour_summary

    bias = np.array([v["colour_bias"] for v in per_image.values()])
    return {**colour_summary(per_image), "mean_abs_bias": float(np.abs(bias).mean())}


def kodak24(results_path: str) -> dict:
    """The rule's figures from one `python -m tfgc evaluate` results.json (the model's rows)."""
    with open(results_path) as f:
        results = json.load(f)
    model = [image["model"] for image in results["images"]]
    bias = np.array([m["metrics"]["colour_bias"] for m in model])
    return {"model": results["run"]["model"], "images": len(model),
            "bpp": float(np.mean([m["bpp"] for m in model])),
            "max_bpp": float(np.max([m["bpp"] for m in model])),
            **{k: float(np.mean([m["metrics"][k] for m in model]))
               for k in ("psnr", "ms_ssim", "niqe")},
            "mean_bias_rgb": bias.mean(axis=0).tolist(),
            "mean_abs_bias": float(np.abs(bias).mean()), "max_abs_bias": float(np.abs(bias).max()),
            "images_under_2": int((np.abs(bias).max(axis=1) < 2).sum()),
            "original_niqe": float(np.mean([image["original"]["niqe"]
                                            for image in results["images"]]))}


def verdict_v4(reference: dict, candidate: dict) -> dict[str, bool]:
    """V4_RULE on Kodak-24, one condition per entry."""
    return {"bpp <= v2 + 2%": candidate["bpp"] <= reference["bpp"] * 1.02,
            "every file <= 0.08 bpp": candidate["max_bpp"] <= 0.08,
            "PSNR >= v2": candidate["psnr"] >= reference["psnr"],
            "MS-SSIM >= v2": candidate["ms_ssim"] >= reference["ms_ssim"],
            "worst bias < v2": candidate["max_abs_bias"] < reference["max_abs_bias"],
            "mean |bias| < v2": candidate["mean_abs_bias"] < reference["mean_abs_bias"],
            "NIQE <= v2 + 0.25": candidate["niqe"] <= reference["niqe"] + 0.25}


def screen_lowpass(reference: dict, row: dict) -> dict[str, bool]:
    """LOWPASS_RULE's screen of one checkpoint row against the starting model's row."""
    return {"worst bias < 2": row["max_abs_bias"] < 2,
            "PSNR >= v3": row["psnr"] >= reference["psnr"],
            "MS-SSIM >= v3": row["ms_ssim"] >= reference["ms_ssim"],
            "NIQE <= v3 + 0.10": row["niqe"] <= reference["niqe"] + 0.10,
            "bpp <= v3 + 2%": row["bpp"] <= reference["bpp"] * 1.02}


def verdict_lowpass(reference: dict, candidate: dict) -> dict[str, bool]:
    """LOWPASS_RULE on Kodak-24, one condition per entry."""
    under_2 = candidate["images_under_2"] > reference["images_under_2"]
    niqe_bound = NIQE_TARGET_FACTOR * candidate["original_niqe"]
    return {"more images under 2 than v3": under_2,
            "worst bias < v3": candidate["max_abs_bias"] < reference["max_abs_bias"],
            "mean |bias| < v3": candidate["mean_abs_bias"] < reference["mean_abs_bias"],
            "PSNR >= v3": candidate["psnr"] >= reference["psnr"],
            "MS-SSIM >= v3": candidate["ms_ssim"] >= reference["ms_ssim"],
            "bpp <= v3 + 2%": candidate["bpp"] <= reference["bpp"] * 1.02,
            "every file <= 0.08 bpp": candidate["max_bpp"] <= 0.08,
            "NIQE <= 1.2x originals": candidate["niqe"] <= niqe_bound}


# Written before any checkpoint of the runs was measured (issue 14, session 7).
FIDELITY_RULE = (
    "Decision rule (fixed before the runs were measured): only each run's final checkpoint "
    "(EMA G) is a candidate. Screen on the 9 images against v3's row (same script run, same "
    "measurement: the model's own colour, files with their tables): PSNR >= v3's + 0.10 dB, "
    "MS-SSIM >= v3's + 0.005, NIQE <= v3's + 0.05, worst per-image channel |bias| <= v3's + "
    "1.0, bpp <= v3's + 2%. Of the runs that pass, the one with the highest MS-SSIM is "
    "exported and run on Kodak-24; if none passes, nothing is exported or bundled. It replaces "
    "v3 only if, on Kodak-24 through `python -m tfgc evaluate` of its export (whole files, "
    "colour offset on, the default): PSNR >= v3's + 0.10 dB (23.02), MS-SSIM >= v3's + 0.005 "
    "(0.8038), NIQE <= 1.2x the originals' (4.37), bpp <= v3's + 2%, every file <= 0.08 bpp, "
    "24 of 24 images under 2 levels on every channel; and its own colour (`--no-colour-offset "
    "--baselines none`) no worse than v3's beyond run-to-run noise: mean |bias| <= v3's + "
    "0.20 and worst channel <= v3's + 1.0 level.")

FIDELITY_TITLE = (
    "Fidelity from v3's recipe at G lr 2e-5, EMA 0.999 (bench/results/colour_lr.md's run B): "
    "the final checkpoint of each run, measured through the codec on whole Kodak images "
    "{images} (means over the {count}; the images of colour_lr.md). The model's own colour "
    "(files without the colour offset): bias = mean of reconstruction minus original per "
    "channel, 8-bit levels; mean |bias| over images and channels; worst = largest |bias| of "
    "any image and channel. GAN weight = G's GAN + FM weight at that step. Minutes = wall time "
    "from config.json's write (the run's start or resume) to the checkpoint, on 2 cores shared "
    "with the other run and two other engineers' jobs.")


def screen_fidelity(reference: dict, row: dict) -> dict[str, bool]:
    """FIDELITY_RULE's screen of one checkpoint row against v3's row."""
    return {"PSNR >= v3 + 0.10": row["psnr"] >= reference["psnr"] + 0.10,
            "MS-SSIM >= v3 + 0.005": row["ms_ssim"] >= reference["ms_ssim"] + 0.005,
            "NIQE <= v3 + 0.05": row["niqe"] <= reference["niqe"] + 0.05,
            "worst bias <= v3 + 1": row["max_abs_bias"] <= reference["max_abs_bias"] + 1.0,
            "bpp <= v3 + 2%": row["bpp"] <= reference["bpp"] * 1.02}


def verdict_fidelity(reference: dict, candidate: dict) -> dict[str, bool]:
    """FIDELITY_RULE on Kodak-24, one condition per entry (own colour: `--kodak24-own`)."""
    checks = {
        "PSNR >= v3 + 0.10": candidate["psnr"] >= reference["psnr"] + 0.10,
        "MS-SSIM >= v3 + 0.005": candidate["ms_ssim"] >= reference["ms_ssim"] + 0.005,
        "NIQE <= 1.2x originals": (candidate["niqe"]
                                   <= NIQE_TARGET_FACTOR * candidate["original_niqe"]),
        "bpp <= v3 + 2%": candidate["bpp"] <= reference["bpp"] * 1.02,
        "every file <= 0.08 bpp": candidate["max_bpp"] <= 0.08,
        "24 of 24 under 2 (offset)": candidate["images_under_2"] == candidate["images"] == 24}
    if "own" in reference and "own" in candidate:
        own, reference_own = candidate["own"], reference["own"]
        checks["own mean |bias| <= v3 + 0.2"] = (own["mean_abs_bias"]
                                                 <= reference_own["mean_abs_bias"] + 0.2)
        checks["own worst <= v3 + 1"] = own["max_abs_bias"] <= reference_own["max_abs_bias"] + 1
    else:
        checks["own colour measured"] = False
    return checks


# Written before any checkpoint of the run was measured (issue 14, session 9,
# bench/results/gan9_capacity.md): the session-7 screen and Kodak-24 verdict, for a C=4/L=13
# bottleneck warm-started from v3's body.
CAPACITY_RULE = (
    "Decision rule (fixed before the run was measured): only the run's final checkpoint (step "
    "4,500, EMA G) is a candidate; the end-of-distortion checkpoint (step 1,500) is a "
    "trajectory point, not a candidate, and no checkpoint is picked on Kodak. Screen on the 9 "
    "images against v3's row (same script run, same measurement: the model's own colour, files "
    "with their tables): PSNR >= v3's + 0.10 dB, MS-SSIM >= v3's + 0.005, NIQE <= v3's + 0.05, "
    "worst per-image channel |bias| <= v3's + 1.0, bpp <= v3's + 2%. If it fails, nothing is "
    "exported or bundled. If it passes, it is exported and replaces v3 only if, on Kodak-24 "
    "through `python -m tfgc evaluate` of its export (whole files, colour offset on, the "
    "default): PSNR >= v3's + 0.10 dB (23.02), MS-SSIM >= v3's + 0.005 (0.8038), NIQE <= 1.2x "
    "the originals' (4.37), bpp <= v3's + 2%, every file <= 0.08 bpp, 24 of 24 images under 2 "
    "levels on every channel; and its own colour (`--no-colour-offset --baselines none`) no "
    "worse than v3's beyond run-to-run noise: mean |bias| <= v3's + 0.20 and worst channel <= "
    "v3's + 1.0 level.")

CAPACITY_TITLE = (
    "Rate: C=4, L=13 centers (-3..3 step 0.5; configs/cpu_gc_c4_l13.py) warm-started from v3's "
    "E and G body (`--config.init_from_new_bottleneck`: E's last conv and G's first conv fresh, "
    "D fresh), 1,200 distortion-only + 300 D warm-up + 3,000 GAN steps (v3's recipe): "
    "checkpoints measured through the codec on whole Kodak images {images} (means over the "
    "{count}; gan7_fidelity.md's images). The model's own colour (files without the colour "
    "offset): bias = mean of reconstruction minus original per channel, 8-bit levels; mean "
    "|bias| over images and channels; worst = largest |bias| of any image and channel. GAN "
    "weight = G's GAN + FM weight at that step (0 = distortion only). Minutes = wall time from "
    "the run's start to the checkpoint, on 2 cores shared with two other engineers' jobs.")

# Written before any checkpoint of the runs was measured (issue 14, session 10,
# bench/results/gan10_dscale.md): the session-7 screen for the coarse-weighted arm, and the
# lever's own question against the equal-weights control of the same length.
DSCALE_RULE = (
    "Decision rule (fixed before the runs were measured): only the coarse arm's final "
    "checkpoint (step 2,000, EMA G) is a candidate; the equal-weights arm is the control. "
    "Screen on the 9 images against v3's row (same script run, same measurement: the model's "
    "own colour, files with their tables): PSNR >= v3's + 0.10 dB, MS-SSIM >= v3's + 0.005, "
    "NIQE <= v3's + 0.05, worst per-image channel |bias| <= v3's + 1.0, bpp <= v3's + 2%. If it "
    "fails, nothing is exported or bundled; if it passes, Kodak-24 decides as in "
    "gan7_fidelity.md (not this session: no bundling). The lever against the control (final "
    "checkpoints): off the line if (PSNR >= control's + 0.10 and MS-SSIM >= control's + 0.005 "
    "and NIQE <= control's + 0.05) or (NIQE <= control's - 0.10 and PSNR >= control's - 0.05 "
    "and MS-SSIM >= control's - 0.0025); did not help if it is worse than the control on "
    "fidelity (PSNR < control's - 0.05 or MS-SSIM < control's - 0.0025) and NIQE > control's - "
    "0.10; otherwise along the line (one side gained, the other lost).")

DSCALE_TITLE = (
    "Per-scale D weights in G's GAN and feature-matching terms (`d_scale_weights`; scales 1, "
    "1/2, 1/4), from v3 with v3's recipe shortened to 300 D warm-up + 1,700 GAN steps (GAN + FM"
    " weight 1 -> 0.25, MSE weight 30, EMA 0.995; seed 0, and seed 1 as *_seed1): coarse = "
    "(0.25, 0.5, 1.0), equal = () (the control). Checkpoints measured through the codec on "
    "whole Kodak images {images} (means over the {count}; gan7_fidelity.md's images). The "
    "model's own colour (files without the colour offset): bias = mean of reconstruction minus "
    "original per channel, 8-bit levels; mean |bias| over images and channels; worst = largest "
    "|bias| of any image and channel. GAN weight = G's GAN + FM weight at that step. Minutes = "
    "wall time from the run's start to the checkpoint; the two arms ran side by side at nice 5 "
    "on 2 cores shared with the lead's training and other engineers' tests.")


def verdict_against_control(control: dict, row: dict) -> str:
    """DSCALE_RULE's lever question: 'off the line', 'along the line' or 'did not help'."""
    fidelity_up = (row["psnr"] >= control["psnr"] + 0.10
                   and row["ms_ssim"] >= control["ms_ssim"] + 0.005
                   and row["niqe"] <= control["niqe"] + 0.05)
    fidelity_kept = (row["psnr"] >= control["psnr"] - 0.05
                     and row["ms_ssim"] >= control["ms_ssim"] - 0.0025)
    texture_up = row["niqe"] <= control["niqe"] - 0.10
    if fidelity_up or (texture_up and fidelity_kept):
        return "off the line"
    if not fidelity_kept and not texture_up:
        return "did not help"
    return "along the line"


# name: (title, decision rule, extra Kodak images, screen of a checkpoint row or None,
# Kodak-24 verdict)
EXPERIMENTS = {
    "v4": (V4_TITLE, V4_RULE, (), None, verdict_v4),
    "lowpass": (LOWPASS_TITLE, LOWPASS_RULE, ("kodim02", "kodim08", "kodim20"), screen_lowpass,
                verdict_lowpass),
    "fidelity": (FIDELITY_TITLE, FIDELITY_RULE, ("kodim02", "kodim08", "kodim20"),
                 screen_fidelity, verdict_fidelity),
    "capacity": (CAPACITY_TITLE, CAPACITY_RULE, ("kodim02", "kodim08", "kodim20"),
                 screen_fidelity, verdict_fidelity),
    "dscale": (DSCALE_TITLE, DSCALE_RULE, ("kodim02", "kodim08", "kodim20"),
               screen_fidelity, verdict_fidelity),
}
# Experiments with control arms: name -> (control run label, treated run label) per seed.
CONTROLS = {"dscale": [("equal", "coarse"), ("equal_seed1", "coarse_seed1"),
                      ("equal3300", "coarse3300")]}


def main() -> None:
    from colour_cast import KODAK_SUBSET, measure

    from tfgc.training.schedules import gan_start, gan_weight_at
    from tfgc.workdir import checkpoint_step, read_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), default="v4",
                        help="which question, decision rule and images (EXPERIMENTS)")
    parser.add_argument("--start", required=True, help="the starting model (v2 SavedModel)")
    parser.add_argument("--start-label", default="v2")
    parser.add_argument("--kodak", required=True, help="folder with kodimNN.png")
    parser.add_argument("--run", action="append", required=True, help="LABEL=WORKDIR")
    parser.add_argument("--kodak24", action="append", default=[],
                        help="LABEL=RESULTS_JSON of `python -m tfgc evaluate` on Kodak-24; "
                             "the first is the reference (the starting model)")
    parser.add_argument("--kodak24-own", action="append", default=[],
                        help="LABEL=RESULTS_JSON of the same model evaluated with "
                             "--no-colour-offset (the model's own colour)")
    parser.add_argument("--final-only", action="store_true",
                        help="measure only each run's latest checkpoint")
    parser.add_argument("--steps", type=lambda text: {int(s) for s in text.split(",")},
                        help="measure only the checkpoints of these steps (e.g. 1500,4500)")
    parser.add_argument("--results-name", default="gan_phase_trajectory")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()

    title, rule, extra_images, screen, verdict = EXPERIMENTS[args.experiment]
    names = KODAK_SUBSET + extra_images
    images = {n: os.path.join(args.kodak, f"{n}.png") for n in names}
    json_path = os.path.join(args.out, f"{args.results_name}.json")
    rows = {}
    if os.path.exists(json_path):
        with open(json_path) as f:
            rows = {(r["run"], r["step"]): r for r in json.load(f)["rows"]}
    configs = {}
    if (args.start_label, 0) not in rows:
        per_image = measure(args.start, images, with_niqe=True)
        rows[(args.start_label, 0)] = {"run": args.start_label, "step": 0, "gan_steps": 0,
                                       "gan_weight": None, "minutes": None,
                                       "images": per_image, **summarise(per_image)}
    for label, workdir in (r.split("=", 1) for r in args.run):
        config = read_config(workdir)
        configs[label] = portable(json.loads(config.to_json()))
        start = gan_start(config)
        started = os.path.getmtime(os.path.join(workdir, "config.json"))
        kept = checkpoints(workdir)
        for checkpoint in kept[-1:] if args.final_only else kept:
            step = checkpoint_step(checkpoint)
            if (label, step) in rows or (args.steps and step not in args.steps):
                continue
            per_image = measure(workdir, images, with_niqe=True, checkpoint=checkpoint)
            rows[(label, step)] = {
                "run": label, "step": step, "gan_steps": max(0, step - start),
                "gan_weight": gan_weight_at(config, step) if step > start else 0.0,
                "minutes": (os.path.getmtime(checkpoint + ".index") - started) / 60,
                "images": per_image, **summarise(per_image)}
            print(label, step, {k: v for k, v in rows[(label, step)].items() if k != "images"},
                  file=sys.stderr)

    whole = {label: kodak24(path) for label, path in (k.split("=", 1) for k in args.kodak24)}
    for label, path in (k.split("=", 1) for k in args.kodak24_own):
        whole[label]["own"] = kodak24(path)
    checks = {}
    if len(whole) > 1:
        reference = next(iter(whole.values()))
        checks = {label: verdict(reference, w) for label, w in list(whole.items())[1:]}

    ordered = sorted(rows.values(), key=lambda r: (r["run"] != args.start_label, r["run"],
                                                   r["step"]))
    os.makedirs(args.out, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump({"kodak_subset": names, "decision_rule": rule,
                   "configs": configs, "rows": ordered,
                   "kodak24": whole, "kodak24_verdict": checks}, f, indent=1)
    lines = [
        title.format(start=args.start_label, images=", ".join(names), count=len(names)), "",
        rule, "",
        "| run | step | GAN steps | GAN weight | bpp | PSNR | MS-SSIM | NIQE | bias R/G/B | "
        "mean abs | worst | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in ordered:
        weight = "" if r["gan_weight"] is None else f"{r['gan_weight']:.2f}"
        minutes = "" if r["minutes"] is None else f"{r['minutes']:.0f}"
        lines.append(
            f"| {r['run']} | {r['step']} | {r['gan_steps']} | {weight} | {r['bpp']:.4f} | "
            f"{r['psnr']:.2f} | {r['ms_ssim']:.4f} | {r['niqe']:.2f} | "
            f"{'/'.join(f'{b:+.1f}' for b in r['mean_bias_rgb'])} | "
            f"{r['mean_abs_bias']:.2f} | {r['max_abs_bias']:.1f} | {minutes} |")
    if screen is not None:
        reference = rows[(args.start_label, 0)]
        passing = []
        lines.append("")
        for r in ordered:
            if r["run"] == args.start_label:
                continue
            failed = [name for name, ok in screen(reference, r).items() if not ok]
            if not failed:
                passing.append(f"{r['run']} {r['step']}")
            lines.append(f"- screen, {r['run']} step {r['step']}: "
                         + (f"fails {', '.join(failed)}" if failed else "passes"))
        lines += ["", "Checkpoints passing the screen: "
                  + (", ".join(passing) if passing else "none") + "."]
    finals = {r["run"]: r for r in ordered}  # sorted by step: the last row is the final
    for control_label, treated_label in CONTROLS.get(args.experiment, []):
        if control_label in finals and treated_label in finals:
            control, treated = finals[control_label], finals[treated_label]
            lines += ["", f"Against the control ({control_label} step {control['step']}): "
                      f"{treated_label} step {treated['step']} is "
                      f"**{verdict_against_control(control, treated)}**."]
    if whole:
        lines += ["", "Kodak-24, whole files, plain encoding (`python -m tfgc evaluate`, exported "
                  "models; means over 24 images; under 2 = images whose every channel's |bias| "
                  "is under 2 levels):", "",
                  "| model | bpp | max bpp | PSNR | MS-SSIM | NIQE | bias R/G/B | mean abs | "
                  "worst | under 2 |", "|---|---|---|---|---|---|---|---|---|---|"]
        for label, w in whole.items():
            lines.append(
                f"| {label} ({w['model']}) | {w['bpp']:.4f} | {w['max_bpp']:.4f} | "
                f"{w['psnr']:.2f} | {w['ms_ssim']:.4f} | {w['niqe']:.2f} | "
                f"{'/'.join(f'{b:+.1f}' for b in w['mean_bias_rgb'])} | "
                f"{w['mean_abs_bias']:.2f} | {w['max_abs_bias']:.1f} | "
                f"{w['images_under_2']} of {w['images']} |")
            if "own" in w:
                o = w["own"]
                lines.append(
                    f"| {label}, own colour (no offset) | {o['bpp']:.4f} | {o['max_bpp']:.4f} | "
                    f"{o['psnr']:.2f} | {o['ms_ssim']:.4f} | | "
                    f"{'/'.join(f'{b:+.1f}' for b in o['mean_bias_rgb'])} | "
                    f"{o['mean_abs_bias']:.2f} | {o['max_abs_bias']:.1f} | "
                    f"{o['images_under_2']} of {o['images']} |")
        for label, check in checks.items():
            failed = [name for name, ok in check.items() if not ok]
            reference_label = next(iter(whole))
            lines += ["", f"**{label}: {'replaces' if not failed else 'does not replace'} "
                      f"{reference_label}**"
                      + (f" (fails: {', '.join(failed)})" if failed else
                         " (every condition of the rule holds)") + "."]
    with open(os.path.join(args.out, f"{args.results_name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
