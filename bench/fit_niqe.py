"""Fits the NIQE pristine model that tfgc ships (tfgc/assets/niqe/pristine.npz).

Run from the repo root:  .venv/bin/python bench/fit_niqe.py PHOTOS_DIR
The set must be pristine photographs that are never used as evaluation images (not Kodak).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfgc.data.images import list_images, read_rgb
from tfgc.evaluation.niqe import DEFAULT_MODEL_PATH, fit_pristine_model, niqe, save_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", help="folder or glob of pristine photographs")
    parser.add_argument("--out", default=DEFAULT_MODEL_PATH)
    parser.add_argument("--set-name", default="tfgc shared photos: Wikimedia Commons photographs"
                        " downsampled to ~1300x860 (the training photos, not Kodak)")
    args = parser.parse_args()
    paths = list_images(args.images)
    if not paths:
        print(f"no images in {args.images}", file=sys.stderr)
        return 1
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    images = (read_rgb(p) for p in tqdm(paths, desc="NIQE features"))
    model = fit_pristine_model(images, info={
        "set": f"{args.set_name}, {len(paths)} images", "images": len(paths),
        "files": [os.path.basename(p) for p in paths], "files_sha256": digest.hexdigest()})
    save_model(model, args.out)
    scores = [niqe(read_rgb(p), model) for p in paths[:5]]
    print(f"wrote {args.out}: {model.info['patches']} patches from {len(paths)} images; "
          f"NIQE of the first pristine images: {np.round(scores, 2).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
