"""`tfgc reverse`: images -> `.tfgz` files through a frozen generator (GAN reversal)."""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from tfgc.cli.arguments import MODEL_PATHS
from tfgc.cli.batch import FileBatch
from tfgc.cli.files import check_output, expand_inputs, output_path

SUFFIX = ".tfgz"


def register(subparsers) -> None:
    from tfgc.reversal.settings import CLIPPING, ReversalSettings

    d = ReversalSettings()
    p = subparsers.add_parser(
        "reverse", help="images -> .tfgz files by reversing a generator (GAN reversal)",
        description="Compresses images by searching the generator input z whose output "
                    "matches each image, quantising z and coding it losslessly. A generator "
                    "SavedModel takes images of its size; a code prior with a GC model's G "
                    "(--prior) takes any size, as a grid of prior tiles. `tfgc decompress "
                    "FILE --generator G [--prior P]` reads the files back.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--generator", metavar="PATH",
                   help="a generator SavedModel (see tfgc.reversal.generators); with --prior, "
                        f"the GC model whose G decodes the prior's codes ({MODEL_PATHS}; "
                        "default there: the bundled model)")
    p.add_argument("--prior", metavar="PATH",
                   help="a code prior (python -m tfgc.training.code_prior): reverse prior + G")
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
    p.add_argument("--no-encoder-start", dest="encoder_start", action="store_false",
                   help="random starts only, even when the generator has an `encode` "
                        "signature (by default the first restart starts from its z)")
    p.set_defaults(run=run_reverse)


def run_reverse(args: argparse.Namespace) -> int:
    from tfgc.errors import TfgcError

    if args.generator is None and args.prior is None:
        raise TfgcError("reverse needs --generator PATH (a generator SavedModel) or --prior "
                        "PATH (a code prior, with --generator its GC model)")
    inputs = expand_inputs(args.inputs, None)
    check_output(args.out, SUFFIX, len(inputs))
    from tfgc.data.images import load_image
    from tfgc.latent_search.losses import parse_loss
    from tfgc.reversal import ReversalSettings, Reverser, load_generator
    from tfgc.reversal.generators import load_prior_generator
    from tfgc.reversal.reverse import check_pixels, reversal_file
    from tfgc.utils.files import write_bytes_atomic

    parse_loss(args.loss)
    settings = ReversalSettings(
        loss=args.loss, steps=args.steps, learning_rate=args.learning_rate,
        restarts=args.restarts, clipping=args.clipping, patience=args.patience,
        tolerance=args.tolerance, prune_after=args.prune_after,
        quantization=args.quantization, finetune_steps=args.finetune_steps, coder=args.coder,
        seed=args.seed, encoder_start=args.encoder_start)
    # A prior + G generator exists at every size; a generator SavedModel has one (the
    # reverser checks each image against it).
    tiled = load_prior_generator(args.prior, args.generator) if args.prior else None
    fixed = None if tiled else load_generator(args.generator)
    reversers: dict[tuple[int, int], Reverser] = {}  # compiled once per image size
    batch = FileBatch("reversed", "image(s)")
    for path in inputs:
        target = output_path(path, args.out, SUFFIX, len(inputs) == 1)
        with batch.file(path, target):
            pixels = load_image(path).pixels
            check_pixels(pixels)
            shape = pixels.shape[:2]
            if shape not in reversers:
                reversers[shape] = Reverser(tiled.at(shape) if tiled else fixed, settings)
            reverser = reversers[shape]
            with tqdm(total=settings.steps, desc=f"reverse {os.path.basename(path)}",
                      unit="step", file=sys.stderr, leave=False) as bar:
                result = reverser.reverse(pixels, progress=lambda step, _: bar.update(
                    step - bar.n))
            data = reversal_file(reverser.generator, result.code, settings.coder)
            write_bytes_atomic(target, data)
            batch.count(len(data), pixels.shape[0] * pixels.shape[1])
    return batch.finish()
