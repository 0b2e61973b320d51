"""The `tfgc` commands as a user runs them: quiet, one line per failed file, the batch goes on.

Tests run as root, where permissions do not stop a write, so unwritable outputs are made the
way root meets them too: a folder path that runs through a regular file, or a directory where
the output file should go.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, TF_LOG, photo

GOLDEN = os.path.join(REPO_ROOT, "tests", "golden", "context_8x12x4_L5.tfgc")


def _tfgc(*args: str, cwd: str, umask: int | None = None) -> subprocess.CompletedProcess:
    """`python -m tfgc ARGS` from a user's shell: no TF log setting of ours in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO_ROOT
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def _error_lines(stderr: str) -> list[str]:
    return [line.split("error: ", 1)[1] for line in stderr.replace("\r", "\n").splitlines()
            if "error: " in line]


def _animated_gif(path, frames: int = 3) -> None:
    images = [Image.fromarray(photo(24, 40, seed=i)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def test_info_imports_no_tensorflow():
    code = ("import sys\nfrom tfgc.__main__ import main\n"
            f"assert main(['info', {GOLDEN!r}, '--json']) == 0\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tensorflow_compression', 'keras')], 'TensorFlow was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["file_bytes"] == os.path.getsize(GOLDEN)


def test_compress_batch_is_quiet_and_survives_a_file_it_cannot_write(tmp_path):
    """One run: a file whose output is blocked fails alone in one line; the others are written
    with umask permissions; a killed run's temporary is cleaned; the GIF gets its note."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(photo(40, 56, seed=1)).save(inputs / "a.png")
    Image.fromarray(photo(32, 32, seed=2)).save(inputs / "b.png")
    _animated_gif(inputs / "c.gif")
    (inputs / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    (out / "b.tfgc").mkdir(parents=True)  # where b's file should go: cannot be replaced
    stale = out / ".tmp-tfgc-999999999-0123abcd-a.tfgc"  # a killed run's (no live pid, no lock)
    stale.write_bytes(b"half")

    result = _tfgc("compress", "in", "-o", "out", cwd=str(tmp_path), umask=0o027)

    assert result.returncode == 1
    errors = _error_lines(result.stderr)
    assert errors[0] == f"in{os.sep}b.png: cannot write out{os.sep}b.tfgc: Is a directory"
    assert errors[1].startswith(f"in{os.sep}d.png: cannot decode image") and len(errors) == 2
    assert "Traceback" not in result.stderr
    assert not TF_LOG.search(result.stderr), result.stderr
    assert "compressed 2 image(s)" in result.stderr
    assert "file/s" not in result.stderr and "s/file" not in result.stderr  # no bar: a pipe
    assert "only the first of its 3 frames is used" in result.stderr
    assert sorted(os.listdir(out)) == ["a.tfgc", "b.tfgc", "c.tfgc"]
    assert stat.S_IMODE(os.stat(out / "a.tfgc").st_mode) == 0o640

    # The output folder runs through a file: every file fails, each in one line.
    (tmp_path / "file").write_text("a regular file")
    result = _tfgc("decompress", "out/a.tfgc", "out/c.tfgc", "-o", "file/png",
                   cwd=str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _error_lines(result.stderr) == [
        f"out/{name}.tfgc: cannot write file/png{os.sep}{name}.png: Not a directory"
        for name in ("a", "c")]
    assert not TF_LOG.search(result.stderr), result.stderr


def test_verbose_shows_the_tensorflow_log_that_is_hidden_by_default(tmp_path):
    (tmp_path / "a.tfgc").write_bytes(b"")
    result = _tfgc("--verbose", "decompress", "a.tfgc", "-o", "png", "--model", "missing",
                   cwd=str(tmp_path))  # imports TensorFlow, then stops at the missing model
    assert result.returncode == 1
    assert _error_lines(result.stderr) == ["model path does not exist: missing"]
    assert TF_LOG.search(result.stderr), result.stderr


@pytest.mark.parametrize("command,suffix", [("compress", ".png"), ("decompress", ".tfgc")])
def test_one_output_file_for_many_inputs_is_refused(tmp_path, command, suffix):
    for name in ("x", "y"):
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
    out = "one.tfgc" if command == "compress" else "one.png"
    result = _tfgc(command, f"x{suffix}", f"y{suffix}", "-o", out, cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: -o {out} names one {out[3:]} file, but there are "
                                     "2 inputs; give a folder")
    assert not (tmp_path / out).exists()
    (tmp_path / "taken").write_text("")
    result = _tfgc(command, f"x{suffix}", f"y{suffix}", "-o", "taken", cwd=str(tmp_path))
    assert result.stderr.strip() == "error: -o taken is a file; give a folder"


def test_animated_images_say_only_the_first_frame_is_used(tmp_path):
    from tfgc.data.images import load_image

    _animated_gif(tmp_path / "anim.gif", frames=4)
    loaded = load_image(tmp_path / "anim.gif")
    assert "only the first of its 4 frames is used" in loaded.conversions
    with Image.open(tmp_path / "anim.gif") as first_frame:
        np.testing.assert_array_equal(loaded.pixels, np.asarray(first_frame.convert("RGB")))
    pages = [Image.fromarray(photo(24, 40, seed=i)) for i in range(2)]
    pages[0].save(tmp_path / "pages.tiff", save_all=True, append_images=pages[1:])
    loaded = load_image(tmp_path / "pages.tiff")
    assert loaded.conversions == ["only the first of its 2 frames is used"]
    np.testing.assert_array_equal(loaded.pixels, photo(24, 40, seed=0))
    Image.fromarray(photo(24, 40)).save(tmp_path / "still.gif")
    assert not any("frames" in c for c in load_image(tmp_path / "still.gif").conversions)


@pytest.mark.parametrize("user_setting,expected", [(None, "3"), ("0", "0")])
def test_importing_tfgc_quiets_tensorflow_unless_the_user_chose_a_level(user_setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if user_setting is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user_setting
    result = subprocess.run(
        [sys.executable, "-c", "import os, tfgc; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env)
    assert result.stdout.strip() == expected, result.stderr


def test_model_label_is_the_model_card_title_and_fingerprint(tmp_path):
    from tfgc.assets import BUNDLED_MODEL_DIR
    from tfgc.codec import model_label

    fingerprint = bytes.fromhex("1b5a3cc96899131e0fd657d689886b88")
    assert model_label(fingerprint, BUNDLED_MODEL_DIR) == "tfgc bundled 1b5a3cc9"
    assert model_label(fingerprint, str(tmp_path)) == "tfgc 1b5a3cc9"  # no card
    assert model_label(fingerprint) == "tfgc 1b5a3cc9"


# ------------------------------------------------------------------------------ evaluate


def _evaluate(monkeypatch, codec, images: str, out: str) -> int:
    import tfgc.codec
    from tfgc.__main__ import main

    monkeypatch.setattr(tfgc.codec, "load_codec", lambda path=None: codec)  # the session's
    return main(["evaluate", "--images", images, "--out", out, "--baselines", "jpeg",
                 "--bpp-factors", "1", "--nr-metrics", "none", "--crops", "0", "--quiet"])


def test_evaluate_reports_unwritable_outputs_in_one_line(tmp_path, monkeypatch, capsys, codec):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(photo(48, 64, seed=i)).save(images / f"im{i}.png")
    (tmp_path / "file").write_text("a regular file")

    assert _evaluate(monkeypatch, codec, str(images), str(tmp_path / "file" / "out")) == 1
    captured = capsys.readouterr()
    assert _error_lines(captured.err) == [
        f"cannot create the results folder {tmp_path / 'file' / 'out'}: Not a directory"]

    out = tmp_path / "results"
    out.mkdir()
    (out / "per_image").write_text("in the way")  # each image's record file cannot be written
    assert _evaluate(monkeypatch, codec, str(images), str(out)) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert len(_error_lines(captured.out)) == 2  # one line per image, and both were evaluated
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["images"] == 2 and results["run"]["write_errors"] == 2
    assert [e["path"] for e in results["write_errors"]] == [  # below --out, as published
        f"per_image/{r['image']['key']}.json" for r in results["images"]]
    assert str(tmp_path) not in (out / "results.json").read_text()
    label = results["run"]["model"]  # a training workdir: fingerprint and step, not its folder
    assert label == f"tfgc {codec.fingerprint.hex()[:8]} (step {codec.step})"
    assert f"# Evaluation of `{label}`" in (out / "results.md").read_text()


def _on_a_terminal(command: list[str], cwd: str) -> tuple[int, str]:
    """Runs `command` with its stderr on a pseudo-terminal, as in a user's shell; returns the
    exit status and what the terminal showed."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO_ROOT
    terminal, stderr = pty.openpty()
    # 24 x 100 characters: a new pseudo-terminal is 0 x 0, where tqdm draws an empty bar.
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=stderr, cwd=cwd, env=env)
    os.close(stderr)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    return process.wait(timeout=600), shown.decode(errors="replace")


TILE_BAR = re.compile(r"decompress wide\.tfgc: .*?(\d+)/(\d+) \[")


def test_a_big_image_shows_progress_over_its_tiles_on_a_terminal(codec, workdir, tmp_path,
                                                                  monkeypatch):
    """A 26224 x 32 image is 2 latent rows of 1639 columns: with the default tile budget
    (8192 latent positions) each row is a tile, so `decompress` shows a bar over 2 tiles on
    a terminal; --quiet, or a stderr that is not a terminal, shows none."""
    import io

    from tfgc.__main__ import main

    (tmp_path / "wide.tfgc").write_bytes(codec.compress(photo(32, 26224, seed=3)))
    status, shown = _on_a_terminal([sys.executable, "-m", "tfgc", "decompress", "wide.tfgc",
                                    "-o", "wide.png", "--model", workdir], str(tmp_path))
    assert status == 0, shown
    totals = {int(total) for _, total in TILE_BAR.findall(shown)}
    assert totals == {2} and "tile" in shown, shown
    assert np.array_equal(np.asarray(Image.open(tmp_path / "wide.png")),
                          codec.decompress((tmp_path / "wide.tfgc").read_bytes()))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    import tfgc.codec

    # --quiet in this process, with the session's codec of the same workdir (the process
    # above loaded it from --model; this saves restoring and tracing it once more).
    monkeypatch.setattr(tfgc.codec, "load_codec", lambda path=None: codec)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert main(["decompress", str(tmp_path / "wide.tfgc"), "-o", str(tmp_path / "again.png"),
                 "--model", workdir, "--quiet"]) == 0
    assert "decompressed 1 file(s)" in sys.stderr.getvalue()
    assert not TILE_BAR.search(sys.stderr.getvalue()), sys.stderr.getvalue()


COMPRESS_BAR = re.compile(r"compress wide\.png: .*?(\d+)/(\d+) \[")


def test_compress_shows_one_bar_over_the_encoder_and_the_colour_offset_pass(codec, workdir,
                                                                            tmp_path,
                                                                            monkeypatch):
    """`compress`'s bar over a big image's tiles counts the encoder's 2 tiles and then the
    generator's 2 (the pass that chooses the colour offset), so it does not sit full while G
    runs; without the offset only the encoder's. Hidden by --quiet and off a terminal. Run by
    `main` with the session's codec (the command runs as a process in other tests; a bar on
    a real terminal: the decompress test above; each tile reported and the same file as the
    single-call graph: tests/test_tiling.py)."""
    import io

    import tfgc.codec
    from tfgc.__main__ import main

    pixels = photo(32, 26224, seed=3)  # 2 latent rows of 1639 columns: a tile each
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    monkeypatch.setattr(tfgc.codec, "load_codec", lambda path=None: codec)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def compress(*options: str, stderr: io.StringIO) -> str:
        monkeypatch.setattr(sys, "stderr", stderr)
        assert main(["compress", str(tmp_path / "wide.png"), "-o", str(tmp_path / "wide.tfgc"),
                     "--model", workdir, *options]) == 0, stderr.getvalue()
        return stderr.getvalue()

    shown = compress(stderr=Terminal())
    assert {int(total) for _, total in COMPRESS_BAR.findall(shown)} == {4}, shown
    shown = compress("--no-colour-offset", stderr=Terminal())
    assert {int(total) for _, total in COMPRESS_BAR.findall(shown)} == {2}, shown
    for quiet, stderr in ((["--quiet"], Terminal()), ([], io.StringIO())):
        shown = compress(*quiet, stderr=stderr)
        assert "compressed 1 image(s)" in shown and not COMPRESS_BAR.search(shown), shown
