"""Figures for a generator trained with an encoder (`python -m tfgc.training.dcgan
--encoder-weight W`): a grid of its samples from the prior (it must still be an unconditional
generator of the domain), and held-out scenes beside their reversals.

    python bench/reversal_encoder_figures.py --generator scenes64e --baseline scenes64 \
        --table1 BASE_TABLE1_DIR ENC_TABLE1_DIR --out bench/results/reversal_encoder

Writes samples_<name>.png for each generator (8 x 4 prior samples, the same z for both) and
unseen_reversals.png: rows are held-out scenes (seed 1000, as `bench/reversal_table1.py
--unseen-scenes`); columns: the scene, then each Table 1 run's reversal (cut from its
examples_unseen.png, whose last column is the reversal), then G(E(x)), the encoder's guess
alone (no search, not quantised).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgc.data.images import write_png
from tfgc.reversal import load_generator


def sample_grid(generator, rows: int = 4, columns: int = 8) -> np.ndarray:
    z = generator.sample_latents(rows * columns, 2024)
    images = np.round(generator(z).numpy() * 255).astype(np.uint8)
    h, w = generator.image_shape
    return images.reshape(rows, columns, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(
        rows * h, columns * w, 3)


def main() -> None:
    from tfgc.semantic.scenes import generate_scene

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", required=True, help="the generator with an encoder")
    parser.add_argument("--baseline", help="a generator without one, for its sample grid")
    parser.add_argument("--table1", nargs="*", default=[],
                        help="bench/reversal_table1.py output folders (--unseen-scenes)")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    generator = load_generator(args.generator)
    for path in filter(None, [args.baseline, args.generator]):
        name = os.path.basename(os.path.normpath(path))
        write_png(os.path.join(args.out, f"samples_{name}.png"),
                  sample_grid(load_generator(path)))
    h, w = generator.image_shape
    scenes = np.stack([generate_scene(h, w, (1000, i)).image for i in range(args.count)])
    columns = [scenes]
    for folder in args.table1:
        figure = np.asarray(Image.open(os.path.join(folder, "examples_unseen.png")).convert("RGB"))
        cut = figure[:args.count * h, -w:]
        columns.append(cut.reshape(args.count, h, w, 3))
    if generator.encode is not None:
        z = generator.encode(scenes / 255.0)
        columns.append(np.round(generator(z).numpy() * 255).astype(np.uint8))
    grid = np.concatenate([np.concatenate(list(c), axis=0) for c in columns], axis=1)
    write_png(os.path.join(args.out, "unseen_reversals.png"), grid)


if __name__ == "__main__":
    main()
