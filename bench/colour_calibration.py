"""How much of a GC model's colour cast is one global shift: per-channel offsets on G's output
layer fitted on the training photos, measured on Kodak-24.

Issue 14, after the low-frequency colour term failed (bench/results/colour_cast_lowpass.md) and
bench/colour_oscillation.py found the shift in the weights themselves (the same on training
crops, whole training photos and Kodak). If so, a model weight can remove the shared part: the
bias of G's last convolution (before tanh) is moved, per channel, until the mean reconstruction
of the fitting photos matches their mean (Newton steps through tanh). No Kodak image is used for
the fit. Kodak-24 is then coded by the model before and after (same symbols and bits: E is
untouched). This is a measurement, not a bundled model. Writes bench/results/NAME.{json,md}.

    python bench/colour_calibration.py --model=tfgc/assets/model --photos=photos --kodak=kodak
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FIT_EVERY = 3  # every third training photo (sorted names) fits the offsets
NEWTON_STEPS = 3


def kodak_metrics(codec, images: dict[str, np.ndarray]) -> dict:
    from colour_cast import measure_codec, summarise

    per_image = measure_codec(codec, images, with_niqe=True)
    bias = np.array([m["colour_bias"] for m in per_image.values()])
    return {**summarise(per_image), "mean_abs_bias": float(np.abs(bias).mean()),
            "images_under_2": int((np.abs(bias).max(axis=1) < 2).sum()),
            "images": per_image}


def fit_offsets(codec, bias: tf.Variable, photos: list[np.ndarray]) -> list[list[float]]:
    """Moves `bias` (G's output conv, before tanh) until the fitting photos' mean colour is kept;
    returns the mean bias (levels) seen before each step."""
    history = []
    for _ in range(NEWTON_STEPS + 1):
        errors, slopes = [], []
        for photo in photos:
            decoded = np.asarray(codec.decompress(codec.compress(photo)), np.float64) / 127.5 - 1
            errors.append((decoded - (photo / 127.5 - 1)).mean((0, 1)))
            slopes.append((1 - decoded ** 2).mean((0, 1)))  # d tanh / d pre-activation
        error = np.mean(errors, axis=0)
        history.append((error * 127.5).tolist())
        if len(history) > NEWTON_STEPS:
            break
        bias.assign_add(-error / np.mean(slopes, axis=0))
    return history


def main() -> None:
    from PIL import Image

    from tfgc.codec import Codec, networks_from_saved_model
    from tfgc.config import from_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a full tfgc SavedModel (GC)")
    parser.add_argument("--label", default="v3")
    parser.add_argument("--photos", required=True, help="the training photos folder")
    parser.add_argument("--kodak", required=True, help="folder with kodim01.png .. kodim24.png")
    parser.add_argument("--results-name", default="colour_calibration")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()

    def read(path: str) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"))

    with open(os.path.join(args.model, "assets.extra", "config.json")) as f:
        networks = networks_from_saved_model(args.model, from_json(f.read()).model)
    # The model's own colour: files without the colour offset (compress's default writes it).
    codec = Codec.from_networks(networks).with_colour_offset(False)
    bias = networks.generator.to_image.conv.bias
    fit_names = sorted(n for n in os.listdir(args.photos) if n.endswith(".png"))[::FIT_EVERY]
    photos = [read(os.path.join(args.photos, n)) for n in fit_names]
    kodak = {f"kodim{i:02d}": read(os.path.join(args.kodak, f"kodim{i:02d}.png"))
             for i in range(1, 25)}

    before = kodak_metrics(codec, kodak)
    original_bias = bias.numpy().copy()
    history = fit_offsets(codec, bias, photos)
    after = kodak_metrics(codec, kodak)
    offsets = (bias.numpy() - original_bias).tolist()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.results_name}.json"), "w") as f:
        json.dump({"model": args.label, "fit_photos": fit_names, "newton_steps": NEWTON_STEPS,
                   "fit_bias_history": history, "pre_tanh_offsets": offsets,
                   "kodak24": {"before": before, "after": after}}, f, indent=1)
    lines = [
        f"Per-channel offsets on {args.label}'s last convolution (before tanh), fitted so the "
        f"mean reconstruction of {len(fit_names)} training photos ({fit_names[0]}, "
        f"{fit_names[1]}, ... every {FIT_EVERY}rd) keeps their mean colour ({NEWTON_STEPS} "
        "Newton steps); Kodak-24 (not used in the fit) coded whole through the codec before and "
        "after. Bits are unchanged (E untouched). Bias = mean of reconstruction minus original "
        "per channel, 8-bit levels; under 2 = images whose every channel's |bias| is under 2.",
        "", "Mean bias of the fitting photos before each step, R/G/B: " + "; ".join(
            "/".join(f"{b:+.2f}" for b in h) for h in history)
        + f". Offsets found: {'/'.join(f'{o:+.4f}' for o in offsets)}.", "",
        "| Kodak-24 | PSNR | MS-SSIM | NIQE | bias R/G/B | mean abs | worst | under 2 |",
        "|---|---|---|---|---|---|---|---|"]
    for label, m in (("before", before), ("after", after)):
        lines.append(f"| {args.label} {label} | {m['psnr']:.2f} | {m['ms_ssim']:.4f} | "
                     f"{m['niqe']:.2f} | {'/'.join(f'{b:+.1f}' for b in m['mean_bias_rgb'])} | "
                     f"{m['mean_abs_bias']:.2f} | {m['max_abs_bias']:.1f} | "
                     f"{m['images_under_2']} of 24 |")
    worst = sorted(after["images"].items(), key=lambda kv: -np.abs(kv[1]["colour_bias"]).max())
    lines += ["", "Images still at or over 2 levels after: " + (", ".join(
        f"{name} {'/'.join(f'{b:+.1f}' for b in m['colour_bias'])}"
        for name, m in worst if np.abs(m["colour_bias"]).max() >= 2) or "none") + "."]
    with open(os.path.join(args.out, f"{args.results_name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
