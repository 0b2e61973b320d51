"""Writing outputs the way a careful program should: atomically, with the user's permissions,
and without leaving debris.

- Atomic: a file (or directory) is written under a temporary name beside its target and renamed
  into place only when complete, so a failed or killed run never leaves half an output.
- Permissions: new outputs get what a normal new file gets, 0666 (directories 0777) minus the
  umask; replacing an existing file keeps its mode, as writing it in place would.
- No debris: temporaries are named `.tmp-tfgc-<pid>-*` and their writer holds an exclusive
  `flock` on them while it works. The kernel drops that lock when the writer dies, even by
  SIGKILL, so a temporary nobody holds was left by a killed run: the next write into the same
  folder deletes it (`clean_stale_temps`), and never touches one a live process is writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no flock, so only old temporaries count as stale
    fcntl = None

TEMP_PREFIX = ".tmp-tfgc-"
_WRITER_PID = re.compile(r"^\.tmp-tfgc-(\d+)-")
# Earlier tfgc versions named temporaries with mkstemp/mkdtemp (".tmp-" + 8 random characters)
# and did not lock them: such a temporary counts as stale once it is an hour old.
_LEGACY_TEMP = re.compile(r"^\.tmp-[a-z0-9_]{8}")
_LEGACY_STALE_S = 3600.0
# A writer creates its temporary, then locks it: for those microseconds the file is unlocked.
# An unlocked temporary this young whose writer is still alive is left for a later run.
_JUST_CREATED_S = 10.0
# Without flock (Windows), a temporary counts as stale only after this long.
_STALE_WITHOUT_LOCKS_S = 24 * 3600.0
_cleaned_dirs: set[str] = set()


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) or bool(_LEGACY_TEMP.match(name))


def _temp_path(directory: str, name: str) -> str:
    return os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}")


def _try_lock(fd: int) -> bool:
    """An exclusive lock on `fd` if nobody else holds one (held until `fd` is closed)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def _is_stale(name: str, info: os.stat_result) -> bool:
    """For an unlocked temporary: was its writer killed (rather than about to lock it)?"""
    age = time.time() - info.st_mtime
    if fcntl is None:
        return age > _STALE_WITHOUT_LOCKS_S
    writer = _WRITER_PID.match(name)
    if not writer:
        return age > _LEGACY_STALE_S
    return not (age < _JUST_CREATED_S and _process_alive(int(writer.group(1))))


def clean_stale_temps(directory: str | os.PathLike) -> list[str]:
    """Deletes the temporaries in `directory` that no live process is writing; returns them."""
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        if not is_temp_name(name):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # gone meanwhile, a symlink, or not ours to read
            continue
        try:
            info = os.fstat(fd)
            if not _try_lock(fd) or not _is_stale(name, info):
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
        except OSError:  # cleaning is a courtesy: it never fails the write that triggered it
            continue
        finally:
            os.close(fd)
    return removed


def _prepare_directory(directory: str) -> None:
    """Creates `directory` if needed; the first time per process, removes stale temporaries."""
    os.makedirs(directory, exist_ok=True)
    if directory not in _cleaned_dirs:
        clean_stale_temps(directory)
        _cleaned_dirs.add(directory)


def _sync_directory(directory: str) -> None:
    """Makes a rename in `directory` durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yields a binary file that replaces `path` only when the block finishes without error."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    _prepare_directory(directory)
    tmp_path = _temp_path(directory, os.path.basename(path))
    # Mode 0666 through open(2): the kernel applies the umask, as for any new file.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:  # closing it releases the lock, after the rename
            _try_lock(fd)
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))  # replacing: keep its mode
            yield f
            f.flush()
            os.fsync(fd)
            os.replace(tmp_path, path)
        _sync_directory(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary directory that becomes `path` when the block succeeds.

    `path` must not exist yet (a directory cannot atomically replace another). The directory
    gets 0777 minus the umask; on failure it is removed, and if the process is killed the next
    write into the same parent removes it.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    _prepare_directory(parent)
    tmp_path = _temp_path(parent, os.path.basename(path))
    os.mkdir(tmp_path, 0o777)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        _try_lock(fd)
        yield tmp_path
        os.rename(tmp_path, path)
        _sync_directory(parent)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
