"""Where a GAN phase's colour cast lives: the EMA vs the live generator of one checkpoint.

Issue 14: the low-frequency colour term (bench/results/colour_cast_lowpass.md) did not stop the
drift. This asks whether the cast is a property of the weights at the moment of the snapshot
(the same shift on training crops, whole training photos and Kodak) or of the data (Kodak only)
or of whole images vs crops, and how much the EMA copy removes. For each checkpoint, each of
its two generators (EMA, live) codes, through the codec, the Kodak screen images of
bench/gan_phase_trajectory.py's `lowpass` experiment, whole training photos and random 128x128
crops of them (the training crop size); a SavedModel (`--model`, e.g. the bundled one) is
measured on the same sets. Bias = mean of reconstruction minus original per channel, 8-bit
levels. Writes bench/results/NAME.{json,md}.

    python bench/colour_oscillation.py --kodak=kodak --photos=photos \
        --workdir=runs/lowpass16_w300 --step=2500 --step=2800 --model=v3=tfgc/assets/model

How fast the shift moves (results name colour_oscillation_probe): the same run continued from
its step 2800 (D and optimizer states included) with a checkpoint every 50 steps, G's GAN
weight going on from 0.25 (to 0.1 at step 3300): a copy of runs/lowpass16_w300 holding only
ckpt-2800 as runs/probe, then lowpass16_w300's train.py command (bench/gan_phase_trajectory.py)
with `--workdir=runs/probe --config.num_steps=3300 --config.gan_weight_end=0.1
--config.checkpoint_every=50 --config.keep_checkpoints=20`, measured with `--step=2800 ...
--step=3300`.
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

PHOTOS = ("001", "017", "033", "005", "025", "041")  # the first three: colour_cast's
CROPS_PER_PHOTO = 6
CROP = 128


def live_codec(workdir: str, checkpoint: str):
    """A codec of the checkpoint's live (trained) generator, not its EMA copy."""
    import tensorflow as tf

    from tfgc.codec import Codec
    from tfgc.networks import CodecNetworks
    from tfgc.utils.restore import require_all_restored
    from tfgc.workdir import MODEL_PATH, read_config

    networks = CodecNetworks.from_config(read_config(workdir).model)
    model = tf.train.Checkpoint(encoder=networks.encoder, generator=networks.generator)
    require_all_restored(tf.train.Checkpoint(**{MODEL_PATH: model}).restore(checkpoint),
                         f"{checkpoint} does not hold a live generator")
    return Codec.from_networks(networks)


def biases(codec, images: list[np.ndarray]) -> np.ndarray:
    """[images, 3] mean reconstruction minus original, 8-bit levels."""
    return np.array([np.asarray(codec.decompress(codec.compress(image)), np.float64).mean((0, 1))
                     - image.mean((0, 1)) for image in images])


def summary(bias: np.ndarray) -> dict:
    return {"bias_rgb": bias.mean(axis=0).tolist(), "worst": float(np.abs(bias).max())}


def main() -> None:
    from colour_cast import KODAK_SUBSET
    from gan_phase_trajectory import EXPERIMENTS
    from PIL import Image

    from tfgc.codec import Codec, load_codec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", required=True, help="folder with kodimNN.png")
    parser.add_argument("--photos", required=True, help="the training photos folder")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--step", action="append", type=int, required=True)
    parser.add_argument("--model", action="append", default=[], help="LABEL=SAVED_MODEL")
    parser.add_argument("--results-name", default="colour_oscillation")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()

    def read(path: str) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"))

    kodak_names = KODAK_SUBSET + EXPERIMENTS["lowpass"][2]
    sets = {"kodak": [read(os.path.join(args.kodak, f"{n}.png")) for n in kodak_names],
            "photos": [read(os.path.join(args.photos, f"{n}.png")) for n in PHOTOS]}
    rng = np.random.default_rng(0)
    sets["crops"] = []
    for photo in sets["photos"]:
        for _ in range(CROPS_PER_PHOTO):
            y, x = (int(rng.integers(0, photo.shape[i] - CROP)) for i in (0, 1))
            sets["crops"].append(photo[y:y + CROP, x:x + CROP])

    codecs = {label: (lambda path=path: load_codec(path))
              for label, path in (m.split("=", 1) for m in args.model)}
    for step in args.step:
        checkpoint = os.path.join(args.workdir, "checkpoints", f"ckpt-{step}")
        codecs[f"step {step}, EMA G"] = (
            lambda checkpoint=checkpoint: Codec.from_workdir(args.workdir, checkpoint))
        codecs[f"step {step}, live G"] = (
            lambda checkpoint=checkpoint: live_codec(args.workdir, checkpoint))
    rows = {}
    for label, make in codecs.items():
        codec = make()
        rows[label] = {name: summary(biases(codec, images)) for name, images in sets.items()}
        print(label, rows[label], file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.results_name}.json"), "w") as f:
        json.dump({"workdir": os.path.basename(os.path.normpath(args.workdir)),
                   "kodak": list(kodak_names), "photos": list(PHOTOS),
                   "crops": f"{CROPS_PER_PHOTO} random {CROP}x{CROP} crops per photo, seed 0",
                   "rows": rows}, f, indent=1)
    lines = [
        f"Colour bias of the EMA and the live generator of "
        f"{os.path.basename(os.path.normpath(args.workdir))}'s checkpoints (and of the models "
        f"given), through the codec: Kodak = whole {', '.join(kodak_names)}; photos = whole "
        f"training photos {', '.join(PHOTOS)}; crops = {CROPS_PER_PHOTO} random {CROP}x{CROP} "
        "crops of each of those photos (the training crop size, seed 0). Bias = mean of "
        "reconstruction minus original per channel, 8-bit levels, mean over the set; worst = "
        "largest |bias| of any image and channel.", "",
        "| model | Kodak bias R/G/B | worst | photos bias R/G/B | worst | crops bias R/G/B | "
        "worst |", "|---|---|---|---|---|---|---|"]
    for label, row in rows.items():
        lines.append("| " + label + " | " + " | ".join(
            f"{'/'.join(f'{b:+.1f}' for b in row[name]['bias_rgb'])} | {row[name]['worst']:.1f}"
            for name in ("kodak", "photos", "crops")) + " |")
    with open(os.path.join(args.out, f"{args.results_name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
