"""Options and value types the commands share, so each reads and says the same everywhere.

Light on purpose (argparse only): the dispatcher imports it to build --help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

MODEL_PATHS = "a training workdir, an export folder or a SavedModel"


def add_model_option(parser: argparse.ArgumentParser, what: str = MODEL_PATHS) -> None:
    """--model PATH, None meaning the bundled model (what `load_codec(None)` loads)."""
    parser.add_argument("--model", default=None, metavar="PATH",
                        help=f"{what} (default: the bundled model)")


def whole_number(minimum: int = 0) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {minimum} or more, got {value}")
        return value

    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse, plus options with an optional whole-number value that take the next word only
    when it is one (`compress --optimize IMG -o OUT` is IMG with the option's default, not
    STEPS=IMG). The dispatcher uses it; its subcommands inherit it."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        flags = {flag: action for action in self._actions
                 if isinstance(action, _OptionalWholeNumber) for flag in action.option_strings}
        for i, word in enumerate(args[:-1]):
            if word == "--":
                break
            following = args[i + 1]
            if word in flags and not following.startswith("-") and not _is_integer(following):
                args[i] = f"{word}={flags[word].const}"
        return super().parse_known_args(args, namespace)


class _OptionalWholeNumber(argparse.Action):
    """`--flag [N]`: N (a whole number) or, without one, `const`; see `ArgumentParser`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def add_optional_whole_number(parser: argparse.ArgumentParser, flag: str, *, default: int,
                              const: int, metavar: str, help: str) -> None:
    """`flag [N]`: N >= 0 if the next word is a whole number, else `const`; absent: `default`.
    Needs a `tfgc.cli.arguments.ArgumentParser` to leave a following path alone."""
    parser.add_argument(flag, action=_OptionalWholeNumber, type=whole_number(), nargs="?",
                        default=default, const=const, metavar=metavar, help=help)


def names(allowed: tuple[str, ...], what: str, allow_none: bool = False,
          aliases: tuple[str, ...] = ()) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of `allowed` (or of `aliases`, names the
    consumer maps to an allowed one); `none` gives [] when `allow_none`."""

    def parse(text: str) -> list[str]:
        given = [n.strip().lower() for n in text.split(",") if n.strip()]
        if allow_none and given == ["none"]:
            return []
        unknown = [n for n in given if n not in allowed and n not in aliases]
        if unknown or not given:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(empty)'}; choose from "
                f"{', '.join(allowed)}" + (" or none" if allow_none else ""))
        return given

    return parse


def bpp_factors(text: str) -> list[float]:
    """An argparse type: positive multiples of the model's bpp, like `1,2`."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bpp factors must be numbers like 1,2; got {text!r}") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise argparse.ArgumentTypeError(f"bpp factors must be positive numbers; got {text!r}")
    return values
