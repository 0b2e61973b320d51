"""Files shipped inside the package: sample photos and the bundled GC and SC models."""

from __future__ import annotations

import os

ASSETS_DIR = os.path.dirname(os.path.abspath(__file__))
SAMPLES_DIR = os.path.join(ASSETS_DIR, "samples")
BUNDLED_MODEL_DIR = os.path.join(ASSETS_DIR, "model")
BUNDLED_SC_MODEL_DIR = os.path.join(ASSETS_DIR, "sc_model")  # selective compression
# A small DCGAN generator for GAN-reversal compression (`tfgc reverse --generator`).
BUNDLED_GENERATOR_DIR = os.path.join(ASSETS_DIR, "generators", "photos64")
# A 64x64 street-scene generator with an encoder, trained 10,000 steps on procedural scenes: the
# one that reaches the seed paper's SSIM margin over JPEG 1% on held-out scenes.
SCENES_GENERATOR_DIR = os.path.join(ASSETS_DIR, "generators", "scenes64")


def sample_images() -> list[str]:
    return sorted(os.path.join(SAMPLES_DIR, f) for f in os.listdir(SAMPLES_DIR)
                  if f.endswith(".png"))
