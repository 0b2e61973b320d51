"""`python -m tfgc bulk ...` on Beam's DirectRunner, run as a user runs it (a fresh process),
against the plain commands on the same files. The bundled model keeps these tests free of
training; one test runs a --model export folder. Each bulk command's first run is a fresh
process; the reruns over outputs it left (resuming, skipping) run its `main` in this process,
which saves a TensorFlow and Beam start each."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT, photo, tfgc_here

pytest.importorskip("apache_beam", reason="apache-beam is not installed (the optional `beam` "
                    "extra): pip install -r requirements-beam.txt; CI installs it")

SIZES = [(32, 48), (48, 32), (40, 40), (24, 56)]  # several sizes: they cannot share a batch
BUNDLED = os.path.join(REPO_ROOT, "tfgc", "assets", "model")


# A user's environment: without the log level the test session sets for itself.
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def tfgc(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfgc", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=ENV, timeout=timeout)


def write_images(folder, count: int, broken: bool = True) -> None:
    from PIL import Image

    os.makedirs(folder / "sub", exist_ok=True)
    for i in range(count):
        h, w = SIZES[i % len(SIZES)]
        where = folder / "sub" if i % 7 == 6 else folder  # a few one folder down
        Image.fromarray(photo(h, w, seed=i)).save(where / f"img{i:02d}.png")
    if broken:
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    (folder / "notes.txt").write_text("not an input: bulk compress takes image files")


def outputs(folder) -> dict[str, bytes]:
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith((".tfgc", ".png")):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = f.read()
    return found


def manifest(folder, name: str = "manifest.jsonl") -> list[dict]:
    with open(os.path.join(folder, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def stat_all(folder) -> dict[str, tuple]:
    return {name: (os.stat(os.path.join(folder, name)).st_ino,
                   os.stat(os.path.join(folder, name)).st_mtime_ns)
            for name in outputs(folder)}


def quiet(stderr: str) -> bool:
    """Only tfgc's own summary lines: no tracebacks, no Beam or TF log."""
    return "Traceback" not in stderr and all(
        line.startswith(("compress:", "decompress:", "evaluate:", "failed files", "error:"))
        for line in stderr.splitlines() if line.strip())


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bulk_images")
    write_images(folder, 20)
    return folder


@pytest.fixture(scope="module")
def cli_outputs(images, tmp_path_factory):
    """What `python -m tfgc compress` writes for the same folder (outputs named by stem)."""
    out = tmp_path_factory.mktemp("cli_out")
    code, stderr = tfgc_here("compress", str(images), "-o", str(out))
    assert code == 1, stderr  # broken.png fails, the others are written
    assert "broken.png" in stderr
    return {name: data for name, data in outputs(out).items()}


@pytest.fixture(scope="module")
def bulk_run(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("bulk_out")
    result = tfgc("bulk", "compress", "--input", str(images / "**"), "--output", str(out))
    return out, result


def test_bulk_compress_writes_what_the_cli_writes(bulk_run, cli_outputs):
    out, result = bulk_run
    assert result.returncode == 1, result.stderr  # one file failed: the exit status says so
    assert quiet(result.stderr), result.stderr
    assert "20 written, 0 already done, 1 failed" in result.stderr
    written = outputs(out)
    assert len(written) == 20
    assert "sub/img06.tfgc" in written  # paths below the glob's folder are kept
    for name, data in written.items():
        assert data == cli_outputs[os.path.basename(name)], name  # byte-identical

    lines = {os.path.basename(r["source"]): r for r in manifest(out)}
    assert len(lines) == 21 and "notes.txt" not in lines
    with open(os.path.join(BUNDLED, "assets.extra", "fingerprint.txt")) as f:
        fingerprint = f.read().strip()
    for name, line in lines.items():
        assert set(line) == {"source", "output", "status", "bytes", "bpp", "fingerprint",
                             "seconds", "error"}
        if name == "broken.png":
            continue
        data = written[os.path.relpath(line["output"], out)]
        h, w = SIZES[int(name[3:5]) % len(SIZES)]
        assert line["status"] == "written" and line["error"] is None
        assert line["bytes"] == len(data)
        assert line["bpp"] == pytest.approx(8 * len(data) / (h * w))
        assert line["fingerprint"] == fingerprint
        assert line["seconds"] > 0


def test_a_corrupt_image_lands_in_the_dead_letters(bulk_run):
    out, _ = bulk_run
    dead = manifest(out, "dead_letter.jsonl")
    assert [os.path.basename(d["source"]) for d in dead] == ["broken.png"]
    assert "cannot decode image" in dead[0]["error"] and "broken.png" in dead[0]["error"]
    assert not os.path.exists(os.path.join(out, "broken.tfgc"))
    line = next(r for r in manifest(out) if r["source"].endswith("broken.png"))
    assert line["status"] == "failed" and line["error"] == dead[0]["error"]


def test_a_rerun_writes_nothing_new(bulk_run, images):
    out, _ = bulk_run
    before = stat_all(out)
    code, stderr = tfgc_here("bulk", "compress", "--input", str(images / "**"), "--output",
                             str(out))
    assert code == 1, stderr
    assert "0 written, 20 already done, 1 failed" in stderr
    assert stat_all(out) == before  # same files, not rewritten
    statuses = sorted(r["status"] for r in manifest(out))
    assert statuses == ["failed"] + ["skipped"] * 20


def test_a_killed_run_resumed_completes(tmp_path, cli_outputs, images):
    out = tmp_path / "out"
    args = ["bulk", "compress", "--input", str(images / "*.png"), "--output", str(out),
            "--batch-size", "1"]
    run = subprocess.Popen([sys.executable, "-m", "tfgc", *args], cwd=REPO_ROOT, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out.exists() and any(n.endswith(".tfgc") and not n.startswith(".")
                                    for n in os.listdir(out))):
        assert run.poll() is None and time.monotonic() < deadline, "bulk run ended early"
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    top = {n[:-4] + ".tfgc" for n in os.listdir(images) if n.startswith("img")}
    done = {n for n in os.listdir(out) if n.endswith(".tfgc") and not n.startswith(".")}
    if done == top or (out / "manifest.jsonl").exists():
        pytest.skip("the run finished before it could be killed")
    for name in done:  # what a killed run left under an output's name is complete
        assert (out / name).read_bytes() == cli_outputs[name]
    # What a crash can leave besides: a stray temp file, an output truncated by another tool.
    stray = out / ".tmp-tfgc-999999-0badf00d-img00.tfgc"  # a dead writer's, an hour old
    stray.write_bytes(b"half")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    truncated = sorted(done)[0]
    (out / truncated).write_bytes(cli_outputs[truncated][:20])  # newer than its source

    code, stderr = tfgc_here(*args)
    assert code == 1, stderr  # broken.png
    assert quiet(stderr), stderr
    assert f"{len(top) - len(done) + 1} written, {len(done) - 1} already done" in stderr
    assert outputs(out) == {n: cli_outputs[n] for n in top}
    assert not [n for n in os.listdir(out) if n.startswith((".tmp-", "beam-temp"))]


def test_bulk_decompress_matches_the_cli(bulk_run, tmp_path):
    out, _ = bulk_run
    files = tmp_path / "files"
    shutil.copytree(out, files, ignore=shutil.ignore_patterns("*.jsonl"))
    data = (files / "img00.tfgc").read_bytes()
    (files / "cut.tfgc").write_bytes(data[:-3])  # truncated: fails its CRC
    pngs = tmp_path / "bulk"
    result = tfgc("bulk", "decompress", "--input", str(files), "--output", str(pngs),
                  "--model", BUNDLED, "--direct_num_workers=2",
                  "--direct_running_mode=multi_processing")
    assert result.returncode == 1, result.stderr
    assert quiet(result.stderr), result.stderr
    assert "20 written, 0 already done, 1 failed" in result.stderr
    cli = tmp_path / "cli"
    code, stderr = tfgc_here("decompress", str(files), "-o", str(cli))
    assert code == 1, stderr
    bulk_pngs, cli_pngs = outputs(pngs), outputs(cli)
    assert len(bulk_pngs) == len(cli_pngs) == 20
    for name, png in bulk_pngs.items():
        assert png == cli_pngs[os.path.basename(name)], name
    (dead,) = manifest(pngs, "dead_letter.jsonl")
    assert dead["source"].endswith("cut.tfgc") and "cut.tfgc" in stderr
    assert dead["error"] in stderr  # the CLI's message for the same file


def test_bulk_evaluate_writes_the_evaluate_results(images, tmp_path):
    some = tmp_path / "some"
    some.mkdir()
    for name in ("img00.png", "img01.png", "img02.png"):
        (some / name).write_bytes((images / name).read_bytes())
    (some / "broken.png").write_bytes((images / "broken.png").read_bytes())
    export = tmp_path / "export"
    os.makedirs(export / "tfgc")
    os.symlink(BUNDLED, export / "tfgc" / "1")  # an export folder: --model picks tfgc/<N>
    flags = ["--baselines", "jpeg", "--bpp-factors", "1", "--nr-metrics", "brisque"]
    bulk, cli = tmp_path / "bulk", tmp_path / "cli"
    result = tfgc("bulk", "evaluate", "--input", str(some / "*.png"), "--output", str(bulk),
                  "--model", str(export), *flags)
    assert quiet(result.stderr), result.stderr
    code, stderr = tfgc_here("evaluate", "--images", str(some), "--out", str(cli), "--model",
                             str(export), "--crops", "0", "--quiet", *flags)
    assert code == 0, stderr

    ours, theirs = (json.loads((d / "results.json").read_text()) for d in (bulk, cli))
    assert os.path.exists(bulk / "results.md") and os.path.exists(bulk / "rd.png")
    assert len(ours["images"]) == len(theirs["images"]) == 3
    for a, b in zip(ours["images"], theirs["images"]):
        assert a["image"] == b["image"] and a["image"]["path"] == f"some/{a['image']['name']}"
        assert a["model"]["bytes"] == b["model"]["bytes"]
        assert a["model"]["metrics"] == b["model"]["metrics"]
        assert a["baselines"]["jpeg"]["1"]["metrics"] == b["baselines"]["jpeg"]["1"]["metrics"]
    keep = ("codec", "factor", "images", "bpp", "psnr", "ms_ssim", "brisque")
    assert ([{k: r.get(k) for k in keep} for r in ours["summary"]["rows"]]
            == [{k: r.get(k) for k in keep} for r in theirs["summary"]["rows"]])
    assert [s["image"] for s in ours["skipped"]] == [s["image"] for s in theirs["skipped"]]
    assert [s["path"] for s in ours["skipped"]] == [s["path"] for s in theirs["skipped"]] == [
        "some/broken.png"]
    for folder in (bulk, cli):  # paths below the input folder: no local folders published
        assert str(tmp_path) not in (folder / "results.json").read_text()
    assert result.returncode == 1  # broken.png: a dead letter, and exit status 1
    assert [os.path.basename(d["source"]) for d in manifest(bulk, "dead_letter.jsonl")] == [
        "broken.png"]


def test_usage_errors_are_one_line(tmp_path, capsys):
    """Checked before any work starts (in this process: these need no model or pipeline)."""
    from tfgc.__main__ import main

    def error(*args: str) -> str:
        assert main(list(args)) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        return lines[0]

    out = str(tmp_path / "out")
    assert "--no_such_beam_option=1" in error(
        "bulk", "compress", "--input", str(tmp_path / "*.png"), "--output", out,
        "--no_such_beam_option=1")
    assert error("bulk", "compress", "--input", str(tmp_path / "*.png"), "--output",
                 out).startswith("error: no files match")
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    assert "export.py" in error("bulk", "compress", "--input", str(tmp_path / "a.png"),
                                "--output", out, "--model", str(tmp_path / "run"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_status:  # other commands take no Beam options
        main(["compress", str(tmp_path / "a.png"), "-o", out, "--runner=X"])
    assert exit_status.value.code == 2
    assert "unrecognized arguments: --runner=X" in capsys.readouterr().err
