"""Output files: atomic, the user's umask permissions, and no debris after a killed run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tfgc.utils.files import (
    atomic_directory,
    atomic_writer,
    clean_stale_temps,
    is_temp_name,
    write_bytes_atomic,
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_outputs_get_the_umask_permissions_of_a_new_file(tmp_path, umask):
    from tfgc.data.images import write_png

    write_bytes_atomic(tmp_path / "new" / "a.tfgc", b"x")
    write_png(tmp_path / "new" / "a.png", np.zeros((2, 3, 3), np.uint8))
    with atomic_directory(tmp_path / "new" / "1") as tmp:
        write_bytes_atomic(os.path.join(tmp, "saved_model.pb"), b"y")
    assert _mode(tmp_path / "new" / "a.tfgc") == 0o666 & ~umask
    assert _mode(tmp_path / "new" / "a.png") == 0o666 & ~umask
    assert _mode(tmp_path / "new" / "1" / "saved_model.pb") == 0o666 & ~umask
    assert _mode(tmp_path / "new" / "1") == 0o777 & ~umask
    assert _mode(tmp_path / "new") == 0o777 & ~umask
    assert sorted(os.listdir(tmp_path / "new")) == ["1", "a.png", "a.tfgc"]


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    path = tmp_path / "a.tfgc"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.tfgc"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(path) as f:
        f.write(b"half")
        raise RuntimeError("disk full, say")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "export") as tmp:
        write_bytes_atomic(os.path.join(tmp, "half.pb"), b"x")
        raise RuntimeError("killed, say")
    assert os.listdir(tmp_path) == ["a.tfgc"] and path.read_bytes() == b"old"


_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from tfgc.utils.files import atomic_directory, atomic_writer
with atomic_writer({target!r}) as f, atomic_directory({export!r}):
    f.write(b"half of a file")
    f.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def _start_writer(directory, name: str) -> subprocess.Popen:
    code = _WRITER.format(repo=REPO_ROOT, target=str(directory / f"{name}.tfgc"),
                          export=str(directory / f"{name}-export"))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    return process


def test_the_next_write_removes_what_a_killed_run_left_but_not_a_live_writers_files(tmp_path):
    killed, live = _start_writer(tmp_path, "killed"), _start_writer(tmp_path, "live")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        legacy = tmp_path / ".tmp-k2j4_x9aphoto.tfgc"  # mkstemp name of earlier versions
        legacy.write_bytes(b"left by an old tfgc")
        os.utime(legacy, (os.stat(legacy).st_atime, os.stat(legacy).st_mtime - 7200))
        young_legacy = tmp_path / ".tmp-abcdefghphoto.tfgc"  # maybe an old tfgc still writing
        young_legacy.write_bytes(b"")
        mine = tmp_path / "notes.txt"
        mine.write_text("not a temporary")
        left = sorted(n for n in os.listdir(tmp_path) if is_temp_name(n))
        assert len(left) == 6  # killed: file + directory, live: file + directory, 2 legacy

        removed = clean_stale_temps(tmp_path)

        assert sorted(os.path.basename(p) for p in removed) == sorted(
            n for n in left if "-live" not in n and n != young_legacy.name)
        remaining = sorted(n for n in os.listdir(tmp_path) if is_temp_name(n))
        assert remaining == sorted([young_legacy.name, *(n for n in left if "-live" in n)])
        assert mine.exists() and not (tmp_path / "killed.tfgc").exists()
    finally:
        live.kill()
        live.wait()
    assert len(clean_stale_temps(tmp_path)) == 2  # now that the live writer is gone too
    assert sorted(os.listdir(tmp_path)) == [young_legacy.name, "notes.txt"]


def test_writing_into_a_folder_cleans_it_first(tmp_path):
    killed = _start_writer(tmp_path, "killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    write_bytes_atomic(tmp_path / "next.tfgc", b"done")
    assert sorted(os.listdir(tmp_path)) == ["next.tfgc"]
