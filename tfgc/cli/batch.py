"""One command's pass over many files: a file that fails gets one `error:` line and the rest are
still done; the pass ends with a summary line and a non-zero exit status if any file failed."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator, Sequence

from tqdm import tqdm

from tfgc.cli.files import os_error_message
from tfgc.errors import TfgcError


def shown_unless(quiet: bool) -> bool | None:
    """tqdm's `disable` for a progress bar: always when quiet, else when stderr is not a
    terminal (None)."""
    return True if quiet else None


class FileBatch:
    """Counts what a command wrote and what failed, and says so at the end."""

    def __init__(self, verb: str, noun: str):
        self.verb, self.noun = verb, noun  # "compressed", "image(s)": the summary's words
        self.done = self.failures = self.total_bytes = self.total_pixels = 0
        self._start = time.perf_counter()

    def progress(self, paths: Sequence[str], desc: str, quiet: bool = False) -> Iterable[str]:
        """`paths` with a progress bar over files (shown only for more than one, on a
        terminal, unless quiet)."""
        return tqdm(paths, desc=desc, unit="file", file=sys.stderr,
                    disable=True if len(paths) < 2 else shown_unless(quiet))

    @contextlib.contextmanager
    def file(self, path: str, target: str) -> Iterator[None]:
        """Runs one file's work: a tfgc error, or `target` not writable, fails this file only."""
        try:
            yield
        except TfgcError as e:
            self.fail(path, e)
        except OSError as e:
            self.fail(path, f"cannot write {target}: {os_error_message(e)}")

    def fail(self, path: str, message: object) -> None:
        self.failures += 1
        tqdm.write(f"error: {path}: {message}", file=sys.stderr)

    def count(self, data_bytes: int, pixels: int) -> None:
        """One file done: `data_bytes` of coded data for an image of `pixels` pixels."""
        self.done += 1
        self.total_bytes += data_bytes
        self.total_pixels += pixels

    def finish(self) -> int:
        """Prints the summary of what was done; the exit status (1 if any file failed)."""
        if self.done:
            print(f"{self.verb} {self.done} {self.noun}: {self.total_bytes} bytes, "
                  f"{8 * self.total_bytes / self.total_pixels:.4f} bpp, "
                  f"{time.perf_counter() - self._start:.1f} s", file=sys.stderr)
        return 1 if self.failures else 0
