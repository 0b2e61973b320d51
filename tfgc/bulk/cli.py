"""`python -m tfgc bulk compress|decompress|evaluate`: the same work as the plain commands on
collections too big for one loop, as an Apache Beam pipeline (DirectRunner by default; any
runner through Beam's own options, e.g. --runner=DataflowRunner).

Kept free of Beam and TensorFlow imports at module level: the dispatcher imports it for --help,
and Beam is an optional extra (`pip install tfgc[beam]`).
"""

from __future__ import annotations

import argparse
import sys

from tfgc.cli.arguments import add_model_option, bpp_factors, names, whole_number
from tfgc.evaluation.cli import BASELINE_ALIASES, BASELINE_NAMES, NR_NAMES

INSTALL_HINT = "pip install 'tfgc[beam]' (or pip install -r requirements-beam.txt)"
_ABOUT = {
    "compress": "images -> .tfgc files (like `compress`)",
    "decompress": ".tfgc files -> PNGs (like `decompress`)",
    "evaluate": "per-image metrics and results.json/results.md (like `evaluate`)",
}


def register(subparsers) -> list[argparse.ArgumentParser]:
    """Adds `bulk` and returns its task parsers (the dispatcher adds --verbose to each)."""
    bulk = subparsers.add_parser(
        "bulk", help="compress/decompress/evaluate many files with Apache Beam",
        description="Runs compress, decompress or evaluate over every file matching --input "
                    "as an Apache Beam pipeline, on the DirectRunner by default or on any Beam "
                    "runner given by Beam pipeline options (for example --runner=DataflowRunner "
                    "--project=... --region=... --temp_location=gs://...). Writes OUTPUT/"
                    "manifest.jsonl (one line per file) and OUTPUT/dead_letter.jsonl (the files "
                    "that failed, with the reason); existing valid outputs are kept, so a rerun "
                    "after a crash does only the rest. Needs " + INSTALL_HINT + ".")
    tasks = bulk.add_subparsers(dest="task", required=True, metavar="TASK")
    parsers = []
    for name, about in _ABOUT.items():
        p = tasks.add_parser(name, help=about, description=f"bulk {name}: {about}. Any "
                             "option not listed here is passed to Beam as a pipeline option.")
        p.add_argument("--input", required=True, metavar="GLOB",
                       help="files to process: a glob in quotes ('photos/**/*.jpg' recurses), "
                            "a folder (searched recursively) or one file; local paths, or gs://, "
                            "s3://, hdfs:// with Beam's extra for that filesystem")
        p.add_argument("--output", required=True, metavar="DIR",
                       help="output folder: outputs keep the inputs' paths below the glob's "
                            "folder; manifest.jsonl and dead_letter.jsonl go here")
        add_model_option(p, "an export folder or its tfgc/<version> SavedModel")
        p.add_argument("--batch-size", type=whole_number(1), default=8, metavar="N",
                       help="most files per model call (same-size images share a call; "
                            "default: 8)")
        if name == "evaluate":
            p.add_argument("--baselines", type=names(BASELINE_NAMES, "baseline", allow_none=True,
                                                     aliases=BASELINE_ALIASES),
                           default=list(BASELINE_NAMES), metavar="LIST",
                           help="comma-separated codecs, or none for ours only (default: "
                                "jpeg,webp,avif,heic,jpeg2000)")
            p.add_argument("--bpp-factors", type=bpp_factors, default=[1.0, 2.0], metavar="LIST",
                           help="baseline targets as multiples of the model's bpp (default: 1,2)")
            p.add_argument("--nr-metrics", type=names(NR_NAMES, "metric", allow_none=True),
                           default=list(NR_NAMES), metavar="LIST",
                           help="no-reference metrics, or none (default: niqe,brisque)")
        p.set_defaults(run=run, takes_pipeline_options=True)
        parsers.append(p)
    return parsers


def run(args: argparse.Namespace) -> int:
    from tfgc.errors import TfgcError

    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise TfgcError(f"bulk needs Apache Beam: {INSTALL_HINT}") from None
    from tfgc.bulk.launch import launch

    summary = launch(args.task, args.input, args.output, args.model, args.batch_size,
                     getattr(args, "pipeline_args", []) or [], evaluate_settings=(
                         (args.baselines, args.bpp_factors, args.nr_metrics)
                         if args.task == "evaluate" else None),
                     verbose=getattr(args, "verbose", False))
    print(f"{args.task}: {summary.written} written, {summary.skipped} already done, "
          f"{summary.failed} failed; manifest {summary.manifest}", file=sys.stderr)
    if summary.failed:
        print(f"failed files and why: {summary.dead_letter}", file=sys.stderr)
    if not summary.total:
        raise TfgcError(f"no input files for bulk {args.task} matched {args.input}")
    return 1 if summary.failed else 0
