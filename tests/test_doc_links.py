"""Links in the docs and results records, and the files the bundled model card names, exist:
the README and the card point readers to results files (bench/results/bundled_model_experiments.md
among them), and a renamed or deleted file should fail here, not in a reader's browser."""

from __future__ import annotations

import glob
import os
import re

from tests.conftest import REPO_ROOT
from tfgc import assets

_LINK = re.compile(r"\]\(([^)\s#]+)")  # markdown link targets, anchors dropped
_REPO_PATH = re.compile(r"`((?:bench|docs|configs|tests|tfgc)/[^`\s]+)`")


def _missing_links(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        targets = _LINK.findall(f.read())
    folder = os.path.dirname(path)
    return [f"{os.path.relpath(path, REPO_ROOT)}: {t}" for t in targets
            if not t.startswith(("http://", "https://", "mailto:"))
            and not os.path.exists(os.path.normpath(os.path.join(folder, t)))]


def test_every_relative_link_in_readme_docs_and_results_resolves():
    pages = [os.path.join(REPO_ROOT, "README.md")]
    for pattern in ("docs/**/*.md", "bench/results/**/*.md"):
        pages += glob.glob(os.path.join(REPO_ROOT, pattern), recursive=True)
    missing = [m for page in pages for m in _missing_links(page)]
    assert not missing, "\n".join(missing)
    assert any(p.endswith("bundled_model_experiments.md") for p in pages)


def test_repository_files_the_bundled_model_card_names_exist():
    card = os.path.join(assets.BUNDLED_MODEL_DIR, "assets.extra", "model_card.md")
    with open(card, encoding="utf-8") as f:
        named = set(_REPO_PATH.findall(f.read()))
    assert "bench/results/bundled_model_experiments.md" in named
    missing = sorted(p for p in named if not os.path.exists(os.path.join(REPO_ROOT, p)))
    assert not missing, missing
