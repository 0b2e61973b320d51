"""`tfgc COMMAND ...` (or `python -m tfgc COMMAND ...`); see `tfgc --help`.

Building the parser imports no TensorFlow: each command imports what it needs when it runs, so
`tfgc info` and `--help` start instantly.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from tfgc.bulk import cli as bulk_command
    from tfgc.cli import codec_commands, demo, reverse_command, sample_command
    from tfgc.cli.arguments import ArgumentParser
    from tfgc.evaluation import cli as evaluate_command

    parser = ArgumentParser(prog="tfgc",
                                     description="GAN-based extreme image compression.")
    verbose_help = "also show TensorFlow's log (hidden by default)"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    subparsers = parser.add_subparsers(dest="command", required=True)
    codec_commands.register(subparsers)
    evaluate_command.register(subparsers)
    demo.register(subparsers)
    reverse_command.register(subparsers)
    sample_command.register(subparsers)
    bulk_commands = bulk_command.register(subparsers)
    # `tfgc compress ... --verbose` works too
    for command in [*subparsers.choices.values(), *bulk_commands]:
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=verbose_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    from tfgc.errors import TfgcError
    from tfgc.utils.logs import set_verbose

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "takes_pipeline_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.pipeline_args = unknown  # `bulk` hands them to Beam
    set_verbose(args.verbose)
    try:
        return int(args.run(args) or 0)
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # an output the command writes once (demo, evaluate's reports)
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
