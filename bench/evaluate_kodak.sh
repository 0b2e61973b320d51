#!/usr/bin/env bash
# Evaluates a trained model on the 24 Kodak images against rate-matched JPEG, WebP, AVIF,
# HEIC (the BPG stand-in) and JPEG 2000 at 1x and 2x the model's bits, as in the paper's Fig. 5.
#
#   bench/evaluate_kodak.sh KODAK_DIR                        # the bundled default model
#   bench/evaluate_kodak.sh KODAK_DIR --model runs/gc/export # a trained model
#   OUT=/tmp/kodak bench/evaluate_kodak.sh KODAK_DIR --limit 4 --nr-metrics none
#
# KODAK_DIR holds kodim01.png ... kodim24.png and their SHA256SUMS. Extra flags go to `python -m tfgc evaluate` and override the defaults below. Rerunning into
# the same OUT resumes: finished images are reused. Takes ~30 s per image on 2 CPU cores
# (AVIF/HEIC rate searches and the no-reference metrics dominate), plus the model's time.
# The interpreter: $PYTHON if set, else this checkout's .venv, else (a git worktree) the
# main checkout's .venv, else python3; one without requirements.txt's packages is refused.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: bench/evaluate_kodak.sh KODAK_DIR [evaluate flags]" >&2
  exit 2
fi
KODAK="$(cd "$1" && pwd)"
shift
OUT="${OUT:-$REPO/runs/evaluate-kodak}"  # runs/ is git-ignored
if [[ -z "${PYTHON:-}" ]]; then
  PYTHON=python3
  common="$(git -C "$REPO" rev-parse --git-common-dir 2>/dev/null || true)"  # worktrees: main's
  main_checkout="$([[ -n "$common" ]] && cd "$REPO" && cd "$common/.." && pwd || true)"
  for venv in "$REPO/.venv" ${main_checkout:+"$main_checkout/.venv"}; do
    if [[ -x "$venv/bin/python" ]]; then
      PYTHON="$venv/bin/python"
      break
    fi
  done
fi
# requirements.txt's packages that $PYTHON lacks (by distribution name; nothing imported).
if ! missing="$("$PYTHON" - "$REPO/requirements.txt" 2>/dev/null <<'CHECK'
import importlib.metadata, re, sys
names = [re.split(r"[=<>!~;\[ #]", line.strip(), maxsplit=1)[0] for line in open(sys.argv[1])]
missing = []
for name in filter(None, names):
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        missing.append(name)
print(", ".join(missing) or "-")
CHECK
)"; then
  echo "bench/evaluate_kodak.sh: cannot run the interpreter $PYTHON; set PYTHON= to one that" \
       "has requirements.txt installed" >&2
  exit 2
fi
if [[ "$missing" != "-" ]]; then
  echo "bench/evaluate_kodak.sh: the interpreter $PYTHON lacks tfgc's requirements" \
       "($missing); set PYTHON= to one that has requirements.txt installed" >&2
  exit 2
fi

if [[ ! -f "$KODAK/SHA256SUMS" ]]; then
  echo "no SHA256SUMS in $KODAK: is it the Kodak folder?" >&2
  exit 2
fi
(cd "$KODAK" && sha256sum --check --quiet SHA256SUMS) || {
  echo "Kodak files in $KODAK do not match SHA256SUMS" >&2
  exit 2
}

command=("$PYTHON" -m tfgc evaluate --images "$KODAK" --out "$OUT"
         --baselines jpeg,webp,avif,heic,jpeg2000 --bpp-factors 1,2 --crops 4 "$@")
echo "+ ${command[*]}" >&2
if [[ -n "${DRY_RUN:-}" ]]; then
  exit 0
fi
cd "$REPO"
exec "${command[@]}"
