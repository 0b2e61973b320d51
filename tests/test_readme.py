"""Every code block in README.md runs as written, or the README itself says why it cannot.

A block is run unless the line above it is a marker:

    <!-- readme-test: setup -->         run first, in a fresh copy of the repo (the install lines)
    <!-- readme-test: ci -->            the test command: `.ci/run` must run exactly these lines
    <!-- readme-test: skip REASON -->   not run here (TF Serving, hours of training, a synopsis)

Setup blocks run with a `python3` that adds this interpreter's site-packages to every venv it
makes and with pip offline, so `pip install -r requirements.txt -e .` finds the pinned packages
already there instead of downloading them; everything else (the venv, the editable install of
the copied repo, its `tfgc` console script) is real. The other blocks then run in an empty
scratch folder, with the venv's bin/ first on PATH (as after `. .venv/bin/activate`) and the
files they name (photo.jpg, more/) put there first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

README = os.path.join(REPO_ROOT, "README.md")
MARKER = re.compile(r"^<!-- readme-test: (\w+)(?: (.*?))? -->$")
# What TensorFlow prints when nothing keeps it quiet; none of it may reach a user's terminal.
TF_NOISE = re.compile(r"Unable to register|TensorRT|TF-TRT|cuda|oneDNN|cpu_feature_guard|"
                      r"WARNING:(absl|tensorflow)|ignore_errors|Traceback")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    mark: str | None
    reason: str


def readme_blocks(path: str = README) -> list[Block]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        start, language = i, lines[i][3:].strip()
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous.strip())
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(Block(start + 1, language, "\n".join(lines[start + 1:end]) + "\n",
                            marker.group(1) if marker else None,
                            (marker.group(2) or "") if marker else ""))
        i = end + 1
    return blocks


BLOCKS = readme_blocks()
RUNNABLE = [b for b in BLOCKS if b.mark is None and b.language in ("sh", "python")]


def commands(block: Block) -> list[str]:
    return [line for line in block.code.splitlines() if line.strip() and not line.startswith("#")]


def test_every_block_is_run_or_marked():
    for block in BLOCKS:
        where = f"README.md:{block.line} (```{block.language})"
        if block.mark == "skip":
            assert block.reason, f"{where}: say why it is skipped: <!-- readme-test: skip WHY -->"
        elif block.mark in ("setup", "ci"):
            assert block.language == "sh", f"{where}: {block.mark} blocks are shell commands"
        else:
            assert block.mark is None, f"{where}: unknown marker {block.mark!r}"
            assert block.language in ("sh", "python"), (
                f"{where}: this test runs sh and python blocks only; run it or mark it "
                "<!-- readme-test: skip REASON -->")
    assert [b.mark for b in BLOCKS].count("ci") == 1
    assert any(b.mark == "setup" for b in BLOCKS) and RUNNABLE


def test_ci_runs_exactly_the_readme_test_command():
    (block,) = [b for b in BLOCKS if b.mark == "ci"]
    with open(os.path.join(REPO_ROOT, ".ci", "run"), encoding="utf-8") as f:
        script = [line for line in f.read().splitlines() if line.strip()]
    assert commands(block) == script[-len(commands(block)):]


def _copy_repo(target: str) -> None:
    shutil.copytree(REPO_ROOT, target, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "tfgc-demo", "__pycache__", "*.egg-info", ".pytest_cache",
        ".ruff_cache", "results"))


def _python3_shim(bin_dir: str) -> None:
    """`python3` = this Python; after `-m venv DIR` it adds our site-packages to DIR's path."""
    site = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    os.makedirs(bin_dir)
    shim = os.path.join(bin_dir, "python3")
    with open(shim, "w") as f:
        f.write(f'#!/bin/sh\n"{sys._base_executable}" "$@" || exit\n'
                f'if [ "$1 $2" = "-m venv" ]; then\n'
                f'  echo "{site}" > "$3/lib/{version}/site-packages/_tfgc_test_packages.pth"\n'
                f'fi\n')
    os.chmod(shim, 0o755)


def _user_env(path_first: str) -> dict[str, str]:
    """A user's shell: no PYTHONPATH, no TF log setting, `path_first` first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL", "VIRTUAL_ENV")}
    env["PATH"] = path_first + os.pathsep + env.get("PATH", "")
    return env


def _run(block: Block, cwd: str, env: dict[str, str], python: str = "python"):
    argv = (["bash", "-euo", "pipefail", "-c", block.code] if block.language == "sh"
            else [python, "-c", block.code])
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=900)
    where = f"README.md:{block.line}"
    assert result.returncode == 0, f"{where} failed:\n{result.stdout[-2000:]}\n" \
                                   f"{result.stderr[-4000:]}"
    noise = [line for line in result.stderr.splitlines() if TF_NOISE.search(line)]
    assert not noise, f"{where} printed TensorFlow noise:\n" + "\n".join(noise[:10])
    return result


@dataclass
class Installed:
    repo: str  # the fresh copy the setup blocks ran in
    bin_dir: str  # its .venv/bin
    scratch: str  # an empty folder elsewhere, with photo.jpg and more/
    setup_output: str  # stdout of the setup blocks (the demo's table)
    setup_errors: str


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """Runs the setup blocks in a fresh copy of the repo, then prepares a scratch folder."""
    from PIL import Image

    from tfgc.assets import SAMPLES_DIR

    root = tmp_path_factory.mktemp("readme")
    repo, shims, scratch = str(root / "repo"), str(root / "shims"), root / "scratch"
    _copy_repo(repo)
    _python3_shim(shims)
    env = _user_env(shims)
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    results = [_run(block, repo, env) for block in BLOCKS if block.mark == "setup"]

    scratch.mkdir()
    (scratch / "more").mkdir()
    chelsea = Image.open(os.path.join(SAMPLES_DIR, "chelsea.png")).convert("RGB")
    chelsea.resize((120, 80)).save(scratch / "photo.jpg", quality=90)
    pixels = np.asarray(chelsea)
    Image.fromarray(pixels[:48, :64]).save(scratch / "more" / "a.png")
    Image.fromarray(pixels[-40:, -56:]).save(scratch / "more" / "b.png")
    return Installed(repo, os.path.join(repo, ".venv", "bin"), str(scratch),
                     "".join(r.stdout for r in results), "".join(r.stderr for r in results))


@pytest.mark.slow
def test_setup_installs_tfgc_and_the_demo_prints_a_sane_table(installed):
    import json

    demo = os.path.join(installed.repo, "tfgc-demo")
    assert sorted(os.listdir(demo)) == ["coffee.tfgc", "coffee_side_by_side.png",
                                        "coffee_tfgc.png"]
    table = installed.setup_output
    assert "tfgc (ours)" in table and "JPEG" in table and "HEIC" in table
    original = next(line for line in table.splitlines() if line.startswith("original"))
    assert original.split()[1:5] == ["-"] * 4  # it has no bytes, bpp, PSNR or MS-SSIM
    assert "nan" not in table
    with open(os.path.join(installed.repo, "tfgc", "assets", "model", "assets.extra",
                           "export.json")) as f:
        fingerprint = json.load(f)["fingerprint"]
    assert f"model: tfgc bundled {fingerprint[:8]};" in installed.setup_errors


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: f"line{b.line}")
def test_readme_block_runs(block, installed):
    _run(block, installed.scratch, _user_env(installed.bin_dir),
         python=os.path.join(installed.bin_dir, "python"))


# Generated records of past runs keep the paths they ran on. (The bundled model's config.json,
# part of its fingerprint, names its data and warm start by relative paths since v2.)
_RECORDS = ("bench/results/", "docs/results/")


def test_product_docs_and_benchmarks_refer_only_to_what_ships():
    offenders = []
    for folder in ("tfgc", "docs", "bench", "configs", "."):
        for root, dirs, files in os.walk(os.path.join(REPO_ROOT, folder)):
            if folder == ".":
                dirs.clear()  # top-level files only: README.md, train.py, export.py, ...
            for name in files:
                path = os.path.relpath(os.path.join(root, name), REPO_ROOT)
                if not name.endswith((".md", ".py", ".sh", ".json", ".txt", ".toml")) or \
                        path.startswith(_RECORDS):
                    continue
                with open(os.path.join(REPO_ROOT, path), encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if "../shared" in line or "/work/" in line:
                            offenders.append(f"{path}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
