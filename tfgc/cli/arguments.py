"""Options and value types the commands share, so each reads and says the same everywhere.

Light on purpose (argparse only): the dispatcher imports it to build --help.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

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
