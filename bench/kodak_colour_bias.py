"""Mean colour bias per Kodak image and channel for one or more models (plain encoding).

Bias = mean of decoded minus original, in 8-bit levels, per channel (R, G, B); the bundled
model's target is |bias| < 2 on every image. Writes bench/results/kodak_colour_bias.{json,md}.

    python bench/kodak_colour_bias.py --kodak kodak --model v1=OLD_EXPORT --model v2=NEW_EXPORT
    python bench/kodak_colour_bias.py --keep --evaluated v3=docs/results/kodak/results.json

--model codes every Kodak image with a model; --evaluated reads the same figures (whole-file
bpp, PSNR, colour bias per image) from a `python -m tfgc evaluate` run's results.json (plain
encoding unless that run used --optimize); --keep keeps the models already in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def measure(model_path: str, kodak: str) -> dict[str, dict]:
    from tfgc.codec import load_codec
    from tfgc.data.images import read_rgb
    from tfgc.evaluation.metrics import colour_bias, psnr

    codec = load_codec(model_path).with_colour_offset(False)  # the model's own colour
    rows = {}
    for name in sorted(f[:-4] for f in os.listdir(kodak) if f.endswith(".png")):
        image = read_rgb(os.path.join(kodak, f"{name}.png"))
        data = codec.compress(image)
        decoded = np.asarray(codec.decompress(data))
        rows[name] = {"bpp": len(data) * 8 / (image.shape[0] * image.shape[1]),
                      "psnr": psnr(image, decoded), "colour_bias": colour_bias(image, decoded)}
        print(name, rows[name], file=sys.stderr)
    return rows


def evaluated(results_json: str) -> dict[str, dict]:
    """The model's rows of a `python -m tfgc evaluate` results.json, named as `measure` names
    them (kodim01, ...)."""
    with open(results_json, encoding="utf-8") as f:
        records = json.load(f)["images"]
    return {os.path.splitext(r["image"]["name"])[0]: {
        "bpp": r["model"]["bpp"], "psnr": r["model"]["metrics"]["psnr"],
        "colour_bias": r["model"]["metrics"]["colour_bias"]} for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", help="the Kodak folder (for --model)")
    parser.add_argument("--model", action="append", default=[], help="LABEL=PATH")
    parser.add_argument("--evaluated", action="append", default=[], help="LABEL=RESULTS_JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the models already in the JSON (those not given again)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()
    if not args.model and not args.evaluated:
        parser.error("give --model or --evaluated")
    if args.model and not args.kodak:
        parser.error("--model needs --kodak")

    path = os.path.join(args.out, "kodak_colour_bias.json")
    results = {}
    if args.keep and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    for label, model in (m.split("=", 1) for m in args.model):
        results[label] = measure(model, args.kodak)
    for label, results_json in (m.split("=", 1) for m in args.evaluated):
        results[label] = evaluated(results_json)
    os.makedirs(args.out, exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    labels = list(results)
    images = list(results[labels[0]])
    lines = ["Mean colour bias (decoded minus original, 8-bit levels) per Kodak image, R/G/B; "
             "plain encoding, whole files.", "",
             "| image | " + " | ".join(f"{m} bias R/G/B | {m} max abs" for m in labels) + " |",
             "|---|" + "---|---|" * len(labels)]
    for name in images:
        cells = []
        for m in labels:
            bias = results[m][name]["colour_bias"]
            cells += ["/".join(f"{b:+.1f}" for b in bias), f"{max(map(abs, bias)):.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    summary, notes = [], [""]
    for m in labels:
        bias = np.array([results[m][n]["colour_bias"] for n in images])
        worst = np.abs(bias).max(axis=1)
        summary += ["/".join(f"{b:+.1f}" for b in bias.mean(axis=0)), f"{worst.max():.1f}"]
        notes.append(f"- {m}: {int((worst < 2).sum())} of {len(images)} images have every "
                     "channel's |bias| under 2 levels.")
    lines.append("| **mean / max** | " + " | ".join(summary) + " |")
    lines += notes
    with open(os.path.join(args.out, "kodak_colour_bias.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
