"""`tfgc reverse`: images -> `.tfgz` files through a frozen generator (GAN reversal)."""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from tfgc.cli.batch import FileBatch
from tfgc.cli.files import check_output, expand_inputs, output_path

SUFFIX = ".tfgz"


def register(subparsers) -> None:
    from tfgc.reversal.settings import CLIPPING, ReversalSettings

    d = ReversalSettings()
    p = subparsers.add_parser(
        "reverse", help="images -> .tfgz files by reversing a generator (GAN reversal)",
        description="Compresses images the generator's size by searching the generator input z "
                    "whose output matches each image, quantising z and coding it losslessly. "
                    "`tfgc decompress FILE --generator G` reads the files back.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--generator", required=True, metavar="PATH",
                   help="a generator SavedModel (see tfgc.reversal.generators)")
    p.add_argument("-o", "--out", required=True,
                   help="output folder (or a .tfgz file name for a single input)")
    p.add_argument("--loss", default=d.loss, help=f"mse, l1, ssim, ms_ssim or a weighted sum "
                   f"like mse+0.1*ssim (default {d.loss})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"search steps ({d.steps})")
    p.add_argument("--restarts", type=int, default=d.restarts,
                   help=f"random starts searched together; the best is kept ({d.restarts})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--clipping", choices=CLIPPING, default=d.clipping,
                   help=f"keeping z in the prior's range ({d.clipping})")
    p.add_argument("--prune-after", type=int, default=d.prune_after, metavar="STEPS",
                   help="after this many steps only the best restart goes on (cheaper steps); "
                        f"0: all restarts to the end ({d.prune_after})")
    p.add_argument("--patience", type=int, default=d.patience,
                   help=f"stop after this many steps without improvement, 0: never "
                        f"({d.patience})")
    p.add_argument("--tolerance", type=float, default=d.tolerance,
                   help="an improvement counts for --patience when it beats the best by this "
                        f"fraction ({d.tolerance})")
    p.add_argument("--quantization", default=d.quantization,
                   help="a step (0.1), 'ternary' ({-1, 0, 1}) or 'bpp:X' (finest step that "
                        f"fits X bits per pixel) (default {d.quantization})")
    p.add_argument("--finetune-steps", type=int, default=d.finetune_steps,
                   help=f"quantisation-aware steps after the search ({d.finetune_steps})")
    p.add_argument("--coder", choices=("range", "bzip2"), default=d.coder)
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(run=run_reverse)


def run_reverse(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs, None)
    check_output(args.out, SUFFIX, len(inputs))
    from tfgc.data.images import load_image
    from tfgc.latent_search.losses import parse_loss
    from tfgc.reversal import ReversalSettings, Reverser, load_generator
    from tfgc.reversal.fileformat import encode_file
    from tfgc.utils.files import write_bytes_atomic

    parse_loss(args.loss)
    settings = ReversalSettings(
        loss=args.loss, steps=args.steps, learning_rate=args.learning_rate,
        restarts=args.restarts, clipping=args.clipping, patience=args.patience,
        tolerance=args.tolerance, prune_after=args.prune_after,
        quantization=args.quantization, finetune_steps=args.finetune_steps, coder=args.coder,
        seed=args.seed)
    generator = load_generator(args.generator)
    reverser = Reverser(generator, settings)
    batch = FileBatch("reversed", "image(s)")
    for path in inputs:
        target = output_path(path, args.out, SUFFIX, len(inputs) == 1)
        with batch.file(path, target):
            pixels = load_image(path).pixels
            with tqdm(total=settings.steps, desc=f"reverse {os.path.basename(path)}",
                      unit="step", file=sys.stderr, leave=False) as bar:
                result = reverser.reverse(pixels, progress=lambda step, _: bar.update(
                    step - bar.n))
            data = encode_file(result.code, fingerprint=generator.fingerprint,
                               image_shape=generator.image_shape,
                               prior_range=generator.prior_range, coder=settings.coder)
            write_bytes_atomic(target, data)
            batch.count(len(data), pixels.shape[0] * pixels.shape[1])
    return batch.finish()
