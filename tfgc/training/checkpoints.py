"""Where each process of a run saves checkpoints, and cleaning what killed runs left behind.

TF's multi-worker rule: every worker takes part in a save (reading distributed variables can
need collectives), but only the chief's copy is kept. The chief writes `workdir/checkpoints`;
worker k writes `workdir/checkpoints/workertemp_k` and deletes it after each save.

TF saves through a `ckpt-N_temp` directory that it renames; a run killed mid-save leaves it
behind. The chief holds an exclusive lock on `checkpoints/.writer.lock` for the whole run (the
kernel drops it when the process dies, even by SIGKILL), so at start-up, with the lock taken,
every `*_temp` and `workertemp_*` there belongs to no live writer and is removed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import sys
from collections.abc import Iterator

import tensorflow as tf

from tfgc.errors import ConfigError

try:
    import fcntl
except ImportError:  # not POSIX: no lock, and no cleanup of other runs' files
    fcntl = None

LOCK_FILE = ".writer.lock"
WORKER_TEMP = "workertemp_{}"


@contextlib.contextmanager
def writer_lock(directory: str, flag: str = "--workdir") -> Iterator[None]:
    """Holds `directory`'s writer lock; a ConfigError if another live run holds it (naming
    the command's `flag` that chose the directory)."""
    os.makedirs(directory, exist_ok=True)
    if fcntl is None:
        yield
        return
    path = os.path.join(directory, LOCK_FILE)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            owner = f.read().strip() or "unknown"
            raise ConfigError(f"another training run (pid {owner}) is writing to {directory}; "
                              f"wait for it to finish or use another {flag}") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_temps(directory: str, patterns: tuple[str, ...]) -> list[str]:
    """Deletes the temp directories matching `patterns` in `directory`; returns their names.
    Call only while no live process can be writing them (see the module docstring)."""
    removed = []
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(directory, pattern))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(os.path.basename(path))
    if removed:
        print(f"removed {len(removed)} stale checkpoint temp dir(s) left by a killed run in "
              f"{directory}: {', '.join(removed)}", file=sys.stderr)
    return removed


class CheckpointWriter:
    """A CheckpointManager that keeps the chief's checkpoints and discards the others'."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int,
                 chief: bool = True, task_id: int = 0):
        self.directory, self.chief = directory, chief
        self.write_directory = directory if chief else os.path.join(
            directory, WORKER_TEMP.format(task_id))
        if chief:
            remove_stale_temps(directory, ("*_temp", WORKER_TEMP.format("*")))
        else:
            remove_stale_temps(directory, (WORKER_TEMP.format(task_id),))
        self.manager = tf.train.CheckpointManager(checkpoint, self.write_directory,
                                                  max_to_keep=max_to_keep if chief else 1)

    @property
    def latest_checkpoint(self) -> str | None:
        """The run's latest kept checkpoint (the chief's), for every worker to resume from."""
        return tf.train.latest_checkpoint(self.directory)

    def save(self, step: int) -> None:
        os.makedirs(self.write_directory, exist_ok=True)
        self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self.write_directory, ignore_errors=True)
