"""The SavedModel of a code prior + a GC model's G: `.tfgz` version-2 files -> images, in
stock TF ops only (a server without tensorflow_compression decodes them).

    python export.py --prior=PRIOR_DIR --saved_model=MODEL|bundled --export_dir=OUT
    OUT/tfgc_prior/<N>/    decompress, decompress_png

Each file is read by `graph_reader.read_latent` (the Python reader's checks, in its order,
under its check names: the API's error classes) and drawn by the prior + G generator's own
`picture_graph`, the code the Python API decodes with: the same pixels within a build.
bzip2-coded files stay with the Python API (TF has no bzip2 op; refused as "coder").
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from tfgc.errors import TfgcError
from tfgc.export.modules import decompress_batch, decompress_pngs
from tfgc.export.saved_model import next_version, save_module
from tfgc.reversal.generators import PriorTiledGenerator
from tfgc.reversal.graph_reader import read_latent
from tfgc.utils.files import atomic_directory

PRIOR_EXPORT_NAME = "tfgc_prior"
PRIOR_EXPORT_INFO = "prior_decoder.json"
_BITSTRINGS = tf.TensorSpec([None], tf.string, name="bitstring")


class PriorDecoderModule(tf.Module):
    """decompress (files [N] -> uint8 images [N, H, W, 3] of one size, and png_bytes [N]) and
    decompress_png (png_bytes only: files of different sizes), as the GC stock export's."""

    def __init__(self, tiled: PriorTiledGenerator):
        super().__init__()
        self.tiled = tiled
        self.prior, self.networks = tiled.prior, tiled.networks  # their variables are saved
        self.fingerprint = tf.Variable(tiled.fingerprint, trainable=False, name="fingerprint")
        self.model_fingerprint = tf.Variable(tiled.model_fingerprint, trainable=False,
                                             name="model_fingerprint")

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([], tf.string),
                                                   tf.TensorSpec([], tf.int64)])
    def decompress_one(self, bitstring, max_pixels):
        tiled = self.tiled
        latent = read_latent(bitstring, fingerprint=tiled.fingerprint,
                             model_fingerprint=tiled.model_fingerprint,
                             prior_range=tiled.prior_range, max_pixels=max_pixels,
                             latent_size=lambda height, width: tiled.latent_size((height, width)))
        return tiled.picture_graph(latent.z, latent.height, latent.width)

    @tf.function(autograph=False, input_signature=[_BITSTRINGS])
    def decompress(self, bitstring):
        return decompress_batch(self.decompress_one, bitstring)

    @tf.function(autograph=False, input_signature=[_BITSTRINGS])
    def decompress_png(self, bitstring):
        return decompress_pngs(self.decompress_one, bitstring)


@dataclass
class PriorExportResult:
    directory: str
    version: int
    fingerprint: bytes  # the prior's
    model_fingerprint: bytes  # the GC model's


def export_prior_decoder(tiled: PriorTiledGenerator, export_dir: str,
                         version: int | None = None, info: dict | None = None
                         ) -> PriorExportResult:
    """Writes `export_dir/tfgc_prior/<version>` (default: the next free one) atomically.
    info: what to record beside the fingerprints (e.g. the prior and model paths)."""
    version = version or next_version(export_dir, (PRIOR_EXPORT_NAME,))
    directory = os.path.join(export_dir, PRIOR_EXPORT_NAME, str(version))
    if os.path.exists(directory):
        raise TfgcError(f"{directory} exists; choose another --version or omit it to use the "
                        "next free one")
    module = PriorDecoderModule(tiled)
    info = {**(info or {}), "version": version, "prior_fingerprint": tiled.fingerprint.hex(),
            "model_fingerprint": tiled.model_fingerprint.hex(),
            "tile_shape": list(tiled.tile_shape), "latent_dim": tiled.latent_dim}
    with atomic_directory(directory) as tmp:
        save_module(module, {"decompress": module.decompress,
                             "decompress_png": module.decompress_png,
                             "serving_default": module.decompress}, tmp,
                    {PRIOR_EXPORT_INFO: json.dumps(info, indent=2)})
    return PriorExportResult(directory, version, tiled.fingerprint, tiled.model_fingerprint)
