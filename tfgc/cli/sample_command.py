"""`tfgc sample`: images from scratch, by decoding codes drawn uniformly and from a learned
prior with a GC model's generator (paper Fig. 6)."""

from __future__ import annotations

import argparse
import math
import sys

from tfgc.cli.arguments import add_model_option
from tfgc.cli.files import check_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="decode uniform and prior-sampled codes into a grid of images",
        description="Writes a PNG: on the left N images decoded from uniformly drawn codes "
                    "('patch soup'), on the right N decoded from codes sampled from a prior "
                    "trained with `python -m tfgc.training.code_prior`.")
    add_model_option(p, "a GC model")
    p.add_argument("--prior", required=True, metavar="PATH", help="a trained code prior")
    p.add_argument("-n", type=int, default=16, help="images per side (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True, help="the grid PNG to write")
    p.set_defaults(run=run_sample)


def _grid(images, gap: int = 2):
    import numpy as np

    n = len(images)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    h, w = images.shape[1:3]
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return grid


def run_sample(args: argparse.Namespace) -> int:
    from tfgc.errors import TfgcError

    if not 1 <= args.n <= 256:
        raise TfgcError(f"-n must be 1..256, got {args.n}")
    check_output(args.out, ".png", 1)
    import numpy as np
    import tensorflow as tf

    from tfgc.codec import load_codec
    from tfgc.data.images import write_png
    from tfgc.prior import load_prior, sample_symbols, uniform_symbols

    codec = load_codec(args.model)
    networks = codec.networks
    prior = load_prior(args.prior, networks.quantizer.centers_list, codec.fingerprint)
    halves = []
    for symbols in (uniform_symbols(prior.code_shape, networks.num_centers, args.n, args.seed),
                    sample_symbols(prior, networks.quantizer, args.n, args.seed)):
        images = networks.synthesis(tf.constant(symbols), args.seed)
        halves.append(_grid(tf.cast(tf.round(tf.clip_by_value(images, 0, 1) * 255),
                                    tf.uint8).numpy()))
    gap = np.full((halves[0].shape[0], 12, 3), 255, np.uint8)
    write_png(args.out, np.concatenate([halves[0], gap, halves[1]], axis=1))
    print(f"wrote {args.out}: {args.n} uniform-code samples (left), {args.n} prior samples "
          "(right)", file=sys.stderr)
    return 0
