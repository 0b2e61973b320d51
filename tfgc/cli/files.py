"""Expanding command-line inputs and naming outputs."""

from __future__ import annotations

import os

from tfgc.data.images import list_images
from tfgc.errors import TfgcError


def expand_inputs(inputs: list[str], suffixes: tuple[str, ...] | None) -> list[str]:
    """Files as given, folders searched recursively for `suffixes` (None: image files)."""
    found: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            if suffixes is None:
                found += list_images(item)
            else:
                found += sorted(os.path.join(root, f) for root, _, files in os.walk(item)
                                for f in files if f.lower().endswith(suffixes))
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise TfgcError(f"input not found: {item}")
    if not found:
        raise TfgcError(f"no input files found in {', '.join(inputs)}")
    return found


def check_output(out: str, suffix: str, count: int) -> None:
    """Refuses an OUT that cannot hold `count` outputs, before any work is done."""
    if count > 1 and out.lower().endswith(suffix) and not os.path.isdir(out):
        raise TfgcError(f"-o {out} names one {suffix} file, but there are {count} inputs; "
                        "give a folder")
    if os.path.exists(out) and not os.path.isdir(out) and not (
            count == 1 and out.lower().endswith(suffix)):
        raise TfgcError(f"-o {out} is a file; give a folder"
                        + (f" or a {suffix} name" if count == 1 else ""))


def os_error_message(error: OSError) -> str:
    """The system's reason ("Read-only file system"), without Python's errno prefix."""
    return error.strerror or str(error)


def output_path(source: str, out: str, suffix: str, single: bool) -> str:
    """OUT itself when it names a file for a single input, else OUT/<stem><suffix>."""
    if single and not os.path.isdir(out) and out.lower().endswith(suffix):
        return out
    stem = os.path.splitext(os.path.basename(source))[0]
    return os.path.join(out, stem + suffix)
