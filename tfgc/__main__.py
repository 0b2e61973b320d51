"""`python -m tfgc COMMAND ...`; see `python -m tfgc --help`."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF start-up noise, not ours


def build_parser() -> argparse.ArgumentParser:
    from tfgc.cli import codec_commands
    from tfgc.evaluation import cli as evaluate_command

    parser = argparse.ArgumentParser(prog="python -m tfgc",
                                     description="GAN-based extreme image compression.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    codec_commands.register(subparsers)
    evaluate_command.register(subparsers)
    try:
        from tfgc.cli import demo
    except ImportError:
        demo = None
    if demo is not None:
        demo.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from tfgc.errors import TfgcError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
