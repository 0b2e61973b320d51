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


def output_path(source: str, out: str, suffix: str, single: bool) -> str:
    """OUT itself when it names a file for a single input, else OUT/<stem><suffix>."""
    if single and not os.path.isdir(out) and out.lower().endswith(suffix):
        return out
    stem = os.path.splitext(os.path.basename(source))[0]
    return os.path.join(out, stem + suffix)
