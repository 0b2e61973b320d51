"""Writing a trained model as two SavedModels in TF Serving's layout.

    OUT/tfgc/<N>/        compress + decompress with tfc's range coder (needs tfc's ops)
    OUT/tfgc_stock/<N>/  analysis, synthesis, compress, decompress in stock TF ops only

Both carry the same fingerprint, so a file made by one decodes with the other. Each version
directory is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfgc import coding
from tfgc.data.images import read_rgb
from tfgc.data.padding import edge_pad
from tfgc.export.modules import make_module, model_fingerprint
from tfgc.networks import CodecNetworks
from tfgc.utils.files import write_text_atomic

FULL_NAME, STOCK_NAME = "tfgc", "tfgc_stock"


@dataclass
class ExportResult:
    full_dir: str
    stock_dir: str
    version: int
    fingerprint: bytes
    mean_bpp: float


def next_version(export_dir: str) -> int:
    versions = [int(d) for name in (FULL_NAME, STOCK_NAME)
                if os.path.isdir(os.path.join(export_dir, name))
                for d in os.listdir(os.path.join(export_dir, name)) if d.isdigit()]
    return max(versions, default=0) + 1


def fit_tables(networks: CodecNetworks, images: Iterable[np.ndarray]) -> np.ndarray:
    """Context tables for the 'model tables' entropy model, from the model's own latents."""

    def latents():
        for pixels in images:
            padded = edge_pad(tf.constant(pixels), networks.stride)
            yield networks.analysis(tf.cast(padded, tf.float32)[tf.newaxis] / 255.0)[0].numpy()

    return coding.fit_model_tables(latents(), networks.num_centers, networks.num_channels)


def _save(module: tf.Module, signatures: dict, target: str, assets: dict[str, str]) -> None:
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        for name, text in assets.items():
            write_text_atomic(os.path.join(extra, name), text)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def model_card(config, networks: CodecNetworks, step: int, fingerprint: bytes,
               tables_images: list[str], mean_bpp: float) -> str:
    m = config.model
    return "\n".join([
        "# tfgc model card",
        "",
        f"- fingerprint: `{fingerprint.hex()}`",
        f"- architecture: {networks.mode.upper()} (Agustsson et al. 2019), "
        f"C={networks.num_channels}, "
        f"L={networks.num_centers}, stride {networks.stride}, width x{m.width_multiplier:.3g}, "
        f"{m.num_residual_blocks} residual blocks, {m.encoder_norm} norm, {m.upsampling} "
        f"upsampling, noise channels {networks.noise_channels}",
        f"- trained on: {config.data.train or 'the sample photos bundled with tfgc'}",
        f"- training steps: {step} (warm-up {config.warmup_steps} distortion-only, then "
        f"{config.gan_loss} GAN), batch {config.batch_size}, crops {config.data.crop_size}",
        f"- bound dim(w)*log2(L): {networks.bpp_bound:.4f} bpp",
        f"- measured file size on the {len(tables_images)} image(s) used to fit the entropy "
        f"model's context tables: {mean_bpp:.4f} bpp (mean)",
        "",
    ])


def export(networks: CodecNetworks, config, export_dir: str, version: int | None = None,
           step: int = 0, tables_images: list[str] | None = None,
           stated_max_bpp: float | None = None) -> ExportResult:
    """Saves the full and the stock SavedModel of `networks` as version `version` (default
    next). `config` is the run's full config (recorded in the model card and assets)."""
    version = version or next_version(export_dir)
    for name in (FULL_NAME, STOCK_NAME):
        if os.path.exists(os.path.join(export_dir, name, str(version))):
            from tfgc.errors import TfgcError

            raise TfgcError(f"{os.path.join(export_dir, name, str(version))} exists; choose "
                            "another --version or omit it to use the next free one")
    tables_images = tables_images or []
    pixels = [read_rgb(p) for p in tqdm(tables_images, desc="fitting tables", unit="image")]
    tables = fit_tables(networks, pixels) if pixels else None
    fingerprint = model_fingerprint(networks, tables)
    full = make_module(networks, tables, fingerprint)
    stock = make_module(networks, tables, fingerprint, stock=True)

    # An SC file's size depends on its label map and mask, which table images do not have.
    sizes = [] if networks.mode == "sc" else [
        len(full.compress_one(tf.constant(p), tf.constant(0, tf.int64)).numpy()) * 8
        / (p.shape[0] * p.shape[1]) for p in pixels]
    mean_bpp = float(np.mean(sizes)) if sizes else float("nan")
    if stated_max_bpp is not None and sizes and max(sizes) > stated_max_bpp:
        print(f"warning: {max(sizes):.4f} bpp on a table image exceeds the stated maximum "
              f"{stated_max_bpp}", file=sys.stderr)
    from tfgc.config import to_json

    assets = {"fingerprint.txt": fingerprint.hex() + "\n", "config.json": to_json(config),
              "model_card.md": model_card(config, networks, step, fingerprint, tables_images,
                                          mean_bpp),
              "export.json": json.dumps({
                  "version": version, "step": step, "fingerprint": fingerprint.hex(),
                  "mean_bpp_on_table_images": mean_bpp,
                  "max_bpp_on_table_images": max(sizes) if sizes else None,
                  "stated_max_bpp": stated_max_bpp}, indent=2)}
    full_dir = os.path.join(export_dir, FULL_NAME, str(version))
    stock_dir = os.path.join(export_dir, STOCK_NAME, str(version))
    _save(full, {"compress": full.compress, "decompress": full.decompress,
                 "serving_default": full.decompress}, full_dir, assets)
    _save(stock, {"analysis": stock.analysis, "synthesis": stock.synthesis,
                  "compress": stock.compress, "decompress": stock.decompress,
                  "serving_default": stock.decompress},
          stock_dir, assets)
    return ExportResult(full_dir, stock_dir, version, fingerprint, mean_bpp)
