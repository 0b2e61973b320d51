"""`python -m tfgc evaluate`: our model against rate-matched classical codecs on a folder of images.

Kept free of heavy imports at module level: the dispatcher imports it just to build --help.
"""

from __future__ import annotations

import argparse
import os
import sys

BASELINE_NAMES = ("jpeg", "webp", "avif", "heic", "jpeg2000")
NR_NAMES = ("niqe", "brisque")


def _names(allowed: tuple[str, ...], what: str, allow_none: bool = False):
    def parse(text: str) -> list[str]:
        names = [n.strip().lower() for n in text.split(",") if n.strip()]
        if allow_none and names == ["none"]:
            return []
        unknown = [n for n in names if n not in allowed and not (what == "baseline" and n in (
            "bpg", "heif", "jp2", "j2k"))]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(empty)'}; choose from "
                f"{', '.join(allowed)}" + (" or none" if allow_none else ""))
        return names

    return parse


def _factors(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bpp factors must be numbers like 1,2; got {text!r}") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise argparse.ArgumentTypeError(f"bpp factors must be positive numbers; got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def register(subparsers) -> None:
    """Adds the `evaluate` subcommand to the `python -m tfgc` dispatcher."""
    parser = subparsers.add_parser(
        "evaluate", help="compare a model with rate-matched JPEG/WebP/AVIF/HEIC/JPEG 2000",
        description="Codes every image with the model, then searches each baseline codec's "
                    "quality per image for the best setting at or under FACTOR x the model's "
                    "bpp, and reports bpp, PSNR, MS-SSIM, NIQE, BRISQUE and timings in "
                    "results.json, results.md, rd.png and crops/. Rerunning into the same "
                    "--out reuses finished images.")
    parser.add_argument("--model", default=None, metavar="PATH",
                        help="trained model (default: the bundled model)")
    parser.add_argument("--images", required=True, metavar="DIR_OR_GLOB",
                        help="a folder (searched recursively), a glob in quotes, or one file")
    parser.add_argument("--out", required=True, metavar="RESULTS_DIR",
                        help="where results go; per_image/ there makes reruns resume")
    parser.add_argument("--baselines", type=_names(BASELINE_NAMES, "baseline"),
                        default=list(BASELINE_NAMES), metavar="LIST",
                        help="comma-separated codecs (default: jpeg,webp,avif,heic,jpeg2000); "
                             "heic stands in for BPG")
    parser.add_argument("--bpp-factors", type=_factors, default=[1.0, 2.0], metavar="LIST",
                        help="baseline targets as multiples of the model's bpp per image "
                             "(default: 1,2)")
    parser.add_argument("--nr-metrics", type=_names(NR_NAMES, "metric", allow_none=True),
                        default=list(NR_NAMES), metavar="LIST",
                        help="no-reference metrics to compute, or none to skip them "
                             "(default: niqe,brisque)")
    parser.add_argument("--crops", type=_positive_int, default=3, metavar="N",
                        help="write side-by-side crops for the first N images (default: 3)")
    parser.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                        help="evaluate only the first N images (sorted by path)")
    parser.add_argument("--optimize", type=_positive_int, default=0, metavar="STEPS",
                        help="encode with STEPS steps of latent optimisation (as compress "
                             "--optimize; default 0: plain encoding)")
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
