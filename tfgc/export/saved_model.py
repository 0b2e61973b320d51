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
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfgc import coding
from tfgc.codec import networks_from_saved_model
from tfgc.config import from_json
from tfgc.data.images import read_rgb
from tfgc.data.padding import edge_pad
from tfgc.errors import ModelLoadError, TfgcError
from tfgc.export.modules import make_module
from tfgc.networks import CodecNetworks
from tfgc.utils.files import (
    atomic_directory,
    clean_stale_temps,
    is_temp_name,
    write_text_atomic,
)

FULL_NAME, STOCK_NAME = "tfgc", "tfgc_stock"


@dataclass
class ExportResult:
    full_dir: str
    stock_dir: str
    version: int
    fingerprint: bytes
    mean_bpp: float


def next_version(export_dir: str, names: tuple[str, ...] = (FULL_NAME, STOCK_NAME)) -> int:
    """One more than the largest version in the trees `names` under `export_dir`."""
    versions = [int(d) for name in names
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


def save_module(module: tf.Module, signatures: dict, directory: str,
                assets: dict[str, str]) -> None:
    """`module` as a SavedModel with these signatures, `assets` as files in assets.extra."""
    # The module's tf.functions are the export. Keras would also trace and store the call
    # functions of every layer the module tracks, for keras.models.load_model, which tfgc never
    # uses (the networks are rebuilt from config and variables: networks_from_saved_model):
    # ~30% of an export's time and of every load's, for the same graphs, bytes and pixels.
    # Keras 2.14 has this switch only inside Model.save; tensorflow is pinned to 2.14. Its
    # public form, tf.keras.models.save_model(save_traces=False), takes Keras models only (on
    # this tf.Module: AttributeError, no `outputs`). Without the switch the bundled GC model's
    # compress and decompress take 6.1 MB of graphs instead of 5.2.
    from keras.src.saving.legacy.saved_model.utils import keras_option_scope

    with keras_option_scope(save_traces=False):
        tf.saved_model.save(module, directory, signatures=signatures)
    extra = os.path.join(directory, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    for name, text in assets.items():
        write_text_atomic(os.path.join(extra, name), text)


def remove_half_pairs(export_dir: str) -> list[str]:
    """Deletes a version present in one tree only, left by an export killed between its two
    renames, unless a live export is still writing its other half; returns what it removed."""
    trees = {name: os.path.join(export_dir, name) for name in (FULL_NAME, STOCK_NAME)}
    present = {name: {d for d in (os.listdir(path) if os.path.isdir(path) else [])
                      if d.isdigit()} for name, path in trees.items()}
    removed = []
    for name, other in ((FULL_NAME, STOCK_NAME), (STOCK_NAME, FULL_NAME)):
        for version in sorted(present[name] - present[other]):
            clean_stale_temps(trees[other])  # a live writer keeps its temporary locked
            if any(is_temp_name(d) and d.endswith(f"-{version}")
                   for d in (os.listdir(trees[other]) if os.path.isdir(trees[other]) else [])):
                continue
            shutil.rmtree(os.path.join(trees[name], version), ignore_errors=True)
            removed.append(os.path.join(trees[name], version))
    return removed


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


def _free_version(export_dir: str, version: int | None) -> int:
    """`version`, or the next free one, after removing half pairs of killed exports."""
    for path in remove_half_pairs(export_dir):
        print(f"removed {path}: its other half was never written (a killed export)",
              file=sys.stderr)
    version = version or next_version(export_dir)
    for name in (FULL_NAME, STOCK_NAME):
        if os.path.exists(os.path.join(export_dir, name, str(version))):
            raise TfgcError(f"{os.path.join(export_dir, name, str(version))} exists; choose "
                            "another --version or omit it to use the next free one")
    return version


def _write_pair(full: tf.Module, stock: tf.Module, export_dir: str, version: int,
                assets: dict[str, str]) -> tuple[str, str]:
    full_dir = os.path.join(export_dir, FULL_NAME, str(version))
    stock_dir = os.path.join(export_dir, STOCK_NAME, str(version))
    # Both halves are written completely under temporary names first, then renamed one right
    # after the other: a reader sees a version directory only when it is whole, and the pair
    # is split only if the process dies between the two renames (the next export removes
    # such a half).
    with atomic_directory(full_dir) as full_tmp, atomic_directory(stock_dir) as stock_tmp:
        save_module(full, {"compress": full.compress, "decompress": full.decompress,
                           "decompress_png": full.decompress_png,
                           "serving_default": full.decompress}, full_tmp, assets)
        save_module(stock, {"analysis": stock.analysis, "synthesis": stock.synthesis,
                            "compress": stock.compress, "decompress": stock.decompress,
                            "decompress_png": stock.decompress_png,
                            "serving_default": stock.decompress}, stock_tmp, assets)
    return full_dir, stock_dir


@dataclass
class FullExport:
    """What a full export holds: its networks, context tables, (F, D) and assets."""

    networks: CodecNetworks
    model_tables: np.ndarray | None
    fingerprints: tuple[bytes, bytes | None]
    assets: dict[str, str]


def load_full_export(source: str) -> FullExport:
    """Reads a full export (`tfgc/<N>`, e.g. the bundled model) without running its graphs."""
    extra = os.path.join(source, "assets.extra")
    if not os.path.exists(os.path.join(source, "saved_model.pb")) or not os.path.isdir(extra):
        raise ModelLoadError(f"{source} is not a full tfgc export (tfgc/<version>)")
    assets = {}
    for name in sorted(os.listdir(extra)):
        with open(os.path.join(extra, name), encoding="utf-8") as f:
            assets[name] = f.read()
    config = from_json(assets["config.json"])
    networks = networks_from_saved_model(source, config.model)
    reader = tf.train.load_checkpoint(os.path.join(source, "variables", "variables"))

    def value(name: str):  # the export's own variables: fingerprints, tables
        key = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        return reader.get_tensor(key) if reader.has_tensor(key) else None

    tables = value("model_tables")
    tables = tables if tables is not None and tables.size else None
    fingerprints = (bytes(value("fingerprint")), bytes(value("decoder_fingerprint") or b"") or None)
    return FullExport(networks, tables, fingerprints, assets)


def reexport(source: str, export_dir: str, version: int | None = None) -> ExportResult:
    """Writes the pair again from a full export (e.g. the bundled model, which ships without
    its stock half): the same weights, tables, fingerprints and assets, so both halves read
    and write exactly the files the source does."""
    loaded = load_full_export(source)
    networks, tables, fingerprints = loaded.networks, loaded.model_tables, loaded.fingerprints
    assets = dict(loaded.assets)
    full = make_module(networks, tables, fingerprints=fingerprints)
    stock = make_module(networks, tables, stock=True, fingerprints=fingerprints)
    version = _free_version(export_dir, version)
    info = json.loads(assets.get("export.json", "{}"))
    assets["export.json"] = json.dumps({**info, "version": version,
                                        "reexported_from_version": info.get("version")}, indent=2)
    full_dir, stock_dir = _write_pair(full, stock, export_dir, version, assets)
    return ExportResult(full_dir, stock_dir, version, fingerprints[0],
                        float(info.get("mean_bpp_on_table_images", float("nan"))))


def export(networks: CodecNetworks, config, export_dir: str, version: int | None = None,
           step: int = 0, tables_images: list[str] | None = None,
           stated_max_bpp: float | None = None) -> ExportResult:
    """Saves the full and the stock SavedModel of `networks` as version `version` (default
    next). `config` is the run's full config (recorded in the model card and assets)."""
    version = _free_version(export_dir, version)
    tables_images = tables_images or []
    pixels = [read_rgb(p) for p in tqdm(tables_images, desc="fitting tables", unit="image")]
    tables = fit_tables(networks, pixels) if pixels else None
    full = make_module(networks, tables)
    stock = make_module(networks, tables, stock=True)
    fingerprint = bytes(full.fingerprint.numpy())

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
    full_dir, stock_dir = _write_pair(full, stock, export_dir, version, assets)
    return ExportResult(full_dir, stock_dir, version, fingerprint, mean_bpp)
