"""`python -m tfgc evaluate`: our model against rate-matched classical codecs on a folder of images.

Kept free of heavy imports at module level: the dispatcher imports it just to build --help.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfgc.cli.arguments import (
    add_model_option,
    add_optional_whole_number,
    bpp_factors,
    names,
    whole_number,
)
from tfgc.latent_search import settings as optimize

BASELINE_NAMES = ("jpeg", "webp", "avif", "heic", "jpeg2000")
BASELINE_ALIASES = ("bpg", "heif", "jp2", "j2k")  # tfgc.evaluation.codecs maps them
NR_NAMES = ("niqe", "brisque")


def register(subparsers) -> None:
    """Adds the `evaluate` subcommand to the `python -m tfgc` dispatcher."""
    parser = subparsers.add_parser(
        "evaluate", help="compare a model with rate-matched JPEG/WebP/AVIF/HEIC/JPEG 2000",
        description="Codes every image with the model, then searches each baseline codec's "
                    "quality per image for the best setting at or under FACTOR x the model's "
                    "bpp, and reports bpp, PSNR, MS-SSIM, NIQE, BRISQUE and timings in "
                    "results.json, results.md, rd.png and crops/. Rerunning into the same "
                    "--out reuses finished images.")
    add_model_option(parser)
    parser.add_argument("--images", required=True, metavar="DIR_OR_GLOB",
                        help="a folder (searched recursively), a glob in quotes, or one file")
    parser.add_argument("--out", required=True, metavar="RESULTS_DIR",
                        help="where results go; per_image/ there makes reruns resume")
    parser.add_argument("--baselines",
                        type=names(BASELINE_NAMES, "baseline", allow_none=True,
                                   aliases=BASELINE_ALIASES),
                        default=list(BASELINE_NAMES), metavar="LIST",
                        help="comma-separated codecs (default: jpeg,webp,avif,heic,jpeg2000), "
                             "or none for the model alone; heic stands in for BPG")
    parser.add_argument("--bpp-factors", type=bpp_factors, default=[1.0, 2.0], metavar="LIST",
                        help="baseline targets as multiples of the model's bpp per image "
                             "(default: 1,2)")
    parser.add_argument("--nr-metrics", type=names(NR_NAMES, "metric", allow_none=True),
                        default=list(NR_NAMES), metavar="LIST",
                        help="no-reference metrics to compute, or none to skip them "
                             "(default: niqe,brisque)")
    parser.add_argument("--crops", type=whole_number(), default=3, metavar="N",
                        help="write side-by-side crops for the first N images (default: 3)")
    parser.add_argument("--limit", type=whole_number(), default=None, metavar="N",
                        help="evaluate only the first N images (sorted by path)")
    add_optional_whole_number(
        parser, "--optimize", default=0, const=optimize.DEFAULT_STEPS, metavar="STEPS",
        help="encode with up to STEPS steps of latent optimisation (as compress --optimize; "
             f"without a number {optimize.DEFAULT_STEPS}; default 0: plain encoding)")
    parser.add_argument("--no-colour-offset", dest="colour_offset", action="store_false",
                        help="encode without the per-image colour offset (as compress "
                             "--no-colour-offset)")
    parser.add_argument("--no-resume", action="store_true",
                        help="recompute every image even if per_image/ has its results")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 when at least one image was evaluated and every file was written, 1
    otherwise, 2 for bad input."""
    from tfgc.errors import ConfigError, DataError, TfgcError

    try:
        from tfgc.codec import load_codec

        codec = load_codec(args.model)
        if args.optimize:
            codec = codec.with_optimization(args.optimize)
        if not args.colour_offset:
            codec = codec.with_colour_offset(False)
        from tfgc.evaluation.runner import evaluate

        results = evaluate(codec, args.images, args.out, baselines=args.baselines,
                           bpp_factors=args.bpp_factors, nr_metrics=args.nr_metrics,
                           crops=args.crops, limit=args.limit or None,
                           progress=not args.quiet, resume=not args.no_resume)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:  # tfgc.codec or one of its dependencies is missing
        print(f"error: cannot load the model code: {e}", file=sys.stderr)
        return 1
    run_info = results["run"]
    print(f"{run_info['images']} images evaluated, {run_info['skipped']} skipped; "
          f"results in {os.path.join(args.out, 'results.md')}")
    for item in results["skipped"]:
        print(f"  skipped {item['image']}: {item['error']}", file=sys.stderr)
    for item in results["write_errors"]:
        print(f"  not saved {item['image']}: {item['error']}", file=sys.stderr)
    return 0 if run_info["images"] > 0 and not results["write_errors"] else 1
