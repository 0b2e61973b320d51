"""Files through Beam's filesystems: local paths here, gs://, s3:// or hdfs:// where Beam's
extras for them are installed. Every output is written under a temporary name and renamed
into place, so a killed worker never leaves a half-written file under an output's name.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tfgc.utils.files import TEMP_PREFIX, clean_stale_temps, is_temp_name, write_bytes_atomic

BEAM_TEMP_PREFIX = "beam-temp-"  # Beam's WriteToText stages the manifest in such a folder
_GLOB_CHARS = re.compile(r"[*?\[]")


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def read_bytes(path: str) -> bytes:
    # UNCOMPRESSED: Beam would otherwise gunzip a file whose name ends in .gz.
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Atomic: the file appears complete under `path` or not at all."""
    if is_local(path):
        write_bytes_atomic(path, data)
        return
    directory, name = FileSystems.split(path)
    temp = FileSystems.join(directory, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{name}")
    with FileSystems.create(temp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    FileSystems.rename([temp], [path])


def modified_time(path: str) -> float | None:
    """Seconds since the epoch, or None if `path` does not exist."""
    matches = FileSystems.match([path])[0].metadata_list
    return matches[0].last_updated_in_seconds if matches else None


def glob_root(pattern: str) -> str:
    """The folder a glob starts from ('photos' for 'photos/**/*.jpg'): outputs keep the
    sources' paths below it, so files with the same name in different folders do not clash."""
    fixed = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
    if fixed == pattern:  # a single file
        return FileSystems.split(pattern)[0]
    return fixed if fixed.endswith("/") else FileSystems.split(fixed)[0]


def output_path(source: str, root: str, output_dir: str, suffix: str) -> str:
    """OUTPUT_DIR/<source's path below root, with `suffix` for its extension>."""
    relative = source[len(root):].lstrip("/") if source.startswith(root) else (
        FileSystems.split(source)[1])
    stem = posixpath.splitext(relative)[0]
    return FileSystems.join(output_dir, stem + suffix)


def remove_stale_temps(output_dir: str) -> int:
    """Deletes what a killed run left under `output_dir`: temporary outputs and the folders
    where Beam stages the manifest. Returns how many went.

    Run before a pipeline starts; locally, a temporary that a live process holds is kept."""
    if is_local(output_dir):
        return _remove_local_temps(output_dir)
    try:
        found = FileSystems.match([FileSystems.join(output_dir, "**")])[0].metadata_list
    except Exception:  # (a folder that does not exist has nothing to clean)
        return 0
    stale = []
    for metadata in found:
        parts = metadata.path[len(output_dir):].strip("/").split("/")
        if is_temp_name(parts[-1]) or parts[0].startswith(BEAM_TEMP_PREFIX):
            stale.append(metadata.path)
    if stale:
        FileSystems.delete(stale)
    return len(stale)


def _remove_local_temps(output_dir: str) -> int:
    removed = 0
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            if name.startswith(BEAM_TEMP_PREFIX):
                shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
                removed += 1
    for folder, _, _ in os.walk(output_dir):
        removed += len(clean_stale_temps(folder))
    return removed


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)
