"""Exports a trained model as SavedModels for TF Serving and other TF programs.

    python export.py --workdir=runs/tiny --export_dir=exports [--version=N]
    python export.py --checkpoint=runs/tiny/checkpoints/ckpt-300 --export_dir=exports
    python export.py --saved_model=bundled --export_dir=exports   # the bundled model's pair
    python export.py --saved_model=bundled --tflite=decoder.tflite  # its decoder for TFLite
    python export.py --saved_model=bundled --prior=PRIOR_DIR --export_dir=exports

writes exports/tfgc/<N>/ (compress, decompress; needs tensorflow-compression's ops) and
exports/tfgc_stock/<N>/ (analysis, synthesis, compress, decompress in stock TF ops only);
with --tflite, instead, one TFLite file in built-in ops only: `.tfgc` bytes -> pixels
(GC models; tfgc/export/tflite.py); with --prior, instead, exports/tfgc_prior/<N>/: a code
prior + the model's G, whose decompress decodes their reversal files (.tfgz version 2) in
stock TF ops (tfgc/reversal/prior_export.py).
"""

import os
import sys

from absl import flags

from tfgc.utils import absl_app

flags.DEFINE_string("workdir", None, "Training workdir (its latest checkpoint is exported).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path inside a workdir, instead of latest.")
flags.DEFINE_string("saved_model", None,
                    "A full tfgc export (tfgc/<N>) to write again as a tfgc + tfgc_stock pair "
                    "with the same weights, tables and fingerprints; 'bundled' = the model "
                    "shipped with tfgc (which ships without its stock half).")
flags.DEFINE_string("export_dir", None, "Root of the TF Serving model directories.")
flags.DEFINE_integer("version", None, "Version number N; default: the next free one.")
flags.DEFINE_string("tables_data", None,
                    "Images (folder or glob) whose latents fit the context tables stored in the "
                    "model; default: the config's training data if present, else the bundled "
                    "samples.")
flags.DEFINE_integer("max_tables_images", 24, "At most this many images for the tables.")
flags.DEFINE_float("stated_max_bpp", None,
                   "A rate the model card promises files stay below (checked by tests for the "
                   "bundled model; export warns if a table image exceeds it).")
flags.DEFINE_string("tflite", None,
                    "Write the decoder of --saved_model (a GC model) as this TFLite file in "
                    "built-in ops only (uint8 file bytes -> uint8 pixels and an error code), "
                    "instead of SavedModels.")
flags.DEFINE_string("prior", None,
                    "A code prior (python -m tfgc.training.code_prior) to write with the G of "
                    "the GC model it was trained on (--saved_model, or --workdir) as one stock "
                    "SavedModel, export_dir/tfgc_prior/<N>, whose decompress decodes their "
                    "reversal (.tfgz) files; instead of the model's pair.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfgc.errors import TfgcError

    try:
        return _export()
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _export() -> int:
    from tfgc.codec import restore_networks
    from tfgc.data.pipeline import find_images
    from tfgc.errors import ConfigError
    from tfgc.export.saved_model import export

    if sum(map(bool, (FLAGS.workdir, FLAGS.checkpoint, FLAGS.saved_model))) != 1:
        raise ConfigError("pass exactly one of --workdir, --checkpoint or --saved_model")
    if FLAGS.prior:
        return _export_prior()
    if bool(FLAGS.export_dir) == bool(FLAGS.tflite):
        raise ConfigError("pass exactly one output: --export_dir (SavedModels) or --tflite")
    if FLAGS.tflite and not FLAGS.saved_model:
        raise ConfigError("--tflite converts a full export: pass --saved_model (tfgc/<N>, or "
                          "'bundled'); export a training run with --export_dir first")
    if FLAGS.saved_model:
        from tfgc.assets import BUNDLED_MODEL_DIR
        from tfgc.export.saved_model import reexport

        source = BUNDLED_MODEL_DIR if FLAGS.saved_model == "bundled" else FLAGS.saved_model
        if FLAGS.tflite:
            from tfgc.export.tflite import export_tflite

            size = export_tflite(source, FLAGS.tflite)
            print(f"wrote the decoder of {source} to {FLAGS.tflite} ({size:,} bytes, TFLite "
                  "built-in ops only)")
            return 0
        result = reexport(source, FLAGS.export_dir, FLAGS.version)
        print(f"exported {source} as version {result.version}:\n  {result.full_dir}\n"
              f"  {result.stock_dir}\nfingerprint {result.fingerprint.hex()}")
        return 0
    workdir = FLAGS.workdir or os.path.dirname(os.path.dirname(os.path.abspath(FLAGS.checkpoint)))
    restored = restore_networks(workdir, FLAGS.checkpoint)
    config, step = restored.config, restored.step
    source = FLAGS.tables_data
    if source is None:
        source = config.data.train if config.data.train and os.path.exists(
            config.data.train) else ""
    if source and source == config.data.train and config.data.layout != "images":
        from tfgc.data.labeled import find_labeled  # the photos of a labelled dataset only

        images = find_labeled(source, config.data.layout, config.data.train_split).images
    else:
        images = find_images(source).paths
    images = images[: FLAGS.max_tables_images]
    result = export(restored.networks, config, FLAGS.export_dir, FLAGS.version, step, images,
                    FLAGS.stated_max_bpp)
    print(f"exported step {step} as version {result.version}:\n  {result.full_dir}\n"
          f"  {result.stock_dir}\nfingerprint {result.fingerprint.hex()}, "
          f"{result.mean_bpp:.4f} bpp on the {len(images)} table image(s)")
    return 0


def _export_prior() -> int:
    from tfgc.errors import ConfigError
    from tfgc.reversal.generators import load_prior_generator
    from tfgc.reversal.prior_export import export_prior_decoder

    if FLAGS.checkpoint or FLAGS.tflite or not FLAGS.export_dir:
        raise ConfigError("--prior writes a SavedModel of the prior + the G of the GC model it "
                          "was trained on: pass --export_dir and that model as --saved_model "
                          "(an export, or 'bundled') or --workdir (a training run)")
    model = FLAGS.workdir or (None if FLAGS.saved_model == "bundled" else FLAGS.saved_model)
    tiled = load_prior_generator(FLAGS.prior, model)
    result = export_prior_decoder(tiled, FLAGS.export_dir, FLAGS.version, {
        "prior": os.path.basename(os.path.normpath(FLAGS.prior)),
        "model": "bundled" if model is None else os.path.basename(os.path.normpath(model))})
    print(f"exported prior {FLAGS.prior} + G of model {tiled.model_fingerprint.hex()} as "
          f"version {result.version}:\n  {result.directory}\nprior fingerprint "
          f"{result.fingerprint.hex()}")
    return 0


if __name__ == "__main__":
    absl_app.run(main)
