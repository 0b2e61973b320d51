"""A learned prior over a GC model's codes (paper Sec. 6.1): saving, loading and sampling.

A prior directory holds `prior.json` (code shape, centers, sizes, the GC model's fingerprint)
and a checkpoint of the `CodePriorGenerator`. Sampling snaps its output to the nearest centers,
so GC's generator turns prior samples into images: together an unconditional generator of
images the size of the code times the stride.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from tfgc.errors import ModelLoadError, ModelMismatchError
from tfgc.networks.code_prior import CodePriorGenerator
from tfgc.utils.files import atomic_directory, write_text_atomic
from tfgc.utils.restore import require_all_restored

PRIOR_INFO = "prior.json"
CHECKPOINT = "prior"


def save_prior(generator: CodePriorGenerator, path: str, info: dict) -> None:
    """info: num_upsamplings, width, model_fingerprint (hex) and anything worth recording."""
    info = {**info, "code_shape": list(generator.code_shape), "latent_dim": generator.latent_dim,
            "centers_range": [generator.low, generator.high]}
    with atomic_directory(path) as tmp:
        tf.train.Checkpoint(generator=generator).write(os.path.join(tmp, CHECKPOINT))
        write_text_atomic(os.path.join(tmp, PRIOR_INFO), json.dumps(info, indent=1))


def load_prior(path: str, centers, model_fingerprint: bytes) -> CodePriorGenerator:
    """The prior at `path`, refused unless it was trained on codes of this GC model."""
    info_path = os.path.join(path, PRIOR_INFO)
    if not os.path.exists(info_path):
        raise ModelLoadError(f"{path} is not a code prior (no {PRIOR_INFO})")
    with open(info_path) as f:
        info = json.load(f)
    if info["model_fingerprint"] != model_fingerprint.hex():
        raise ModelMismatchError(f"this prior was trained on codes of model "
                                 f"{info['model_fingerprint']}, not {model_fingerprint.hex()}")
    generator = CodePriorGenerator(info["code_shape"], centers, info["latent_dim"],
                                   info["width"], info["num_upsamplings"])
    generator(tf.zeros([1, info["latent_dim"]]))
    require_all_restored(tf.train.Checkpoint(generator=generator).read(
        os.path.join(path, CHECKPOINT)), f"{path}: checkpoint does not fit {PRIOR_INFO}")
    return generator


def sample_symbols(generator: CodePriorGenerator, quantizer, count: int, seed: int = 0
                   ) -> np.ndarray:
    """int32 symbols [count, h, w, C] from the prior (z uniform in [-1, 1], as trained)."""
    z = tf.random.stateless_uniform([count, generator.latent_dim], [seed, 0x9A1], -1.0, 1.0)
    return quantizer.symbols(generator(z, training=False)).numpy()


def uniform_symbols(code_shape, num_centers: int, count: int, seed: int = 0) -> np.ndarray:
    """Codes drawn uniformly ("patch soup" when decoded, paper Fig. 6 left)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_centers, (count, *code_shape)).astype(np.int32)
