"""compress, decompress and info subcommands."""

from __future__ import annotations

import argparse
import json
import os
import sys

from tqdm import tqdm

from tfgc.cli.arguments import add_model_option, add_optional_whole_number
from tfgc.cli.batch import FileBatch, shown_unless
from tfgc.cli.files import check_output, expand_inputs, os_error_message, output_path
from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import TfgcError
from tfgc.latent_search import settings as optimize
from tfgc.utils.files import write_bytes_atomic


def register(subparsers) -> None:
    p = subparsers.add_parser("compress", help="images -> .tfgc files",
                              description="Compresses images (files or folders) to .tfgc files.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--out", required=True,
                   help="output folder (or a .tfgc file name for a single input)")
    add_model_option(p)
    p.add_argument("--noise-seed", type=int, default=0, help="seed of the generator's noise")
    add_optional_whole_number(
        p, "--optimize", default=0, const=optimize.DEFAULT_STEPS, metavar="STEPS",
        help="optimise each image's symbols for the decoder for up to STEPS gradient steps "
             "(slower encode, better picture, same decoder; without a number "
             f"{optimize.DEFAULT_STEPS}, also right before an image path; default 0: plain)")
    p.add_argument("--optimize-loss", default=None, metavar="SPEC",
                   help="what --optimize minimises, a weighted sum of mse, l1, ssim, ms_ssim "
                        f"and bpp (default: {optimize.DEFAULT_LOSS})")
    p.add_argument("--no-colour-offset", dest="colour_offset", action="store_false",
                   help=NO_COLOUR_OFFSET_HELP)
    semantic = p.add_argument_group(
        "selective compression (SC models)",
        "Keep some regions and synthesise the rest from the label map (one input image).")
    semantic.add_argument("--labels", metavar="LABELS.png",
                          help="the image's label map in the model's dataset ids (e.g. a "
                               "Cityscapes *_gtFine_labelIds.png)")
    what = semantic.add_mutually_exclusive_group()
    what.add_argument("--preserve", metavar="CLASS,...", help="class names to keep, e.g. "
                      "person,car")
    what.add_argument("--preserve-box", metavar="X0,Y0,X1,Y1",
                      help="pixel box to keep (end exclusive)")
    what.add_argument("--preserve-mask", metavar="MASK.png",
                      help="mask image of the image's size, nonzero = keep")
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(run=run_compress)

    p = subparsers.add_parser("decompress", help=".tfgc and .tfgz files -> PNG",
                              description="Decompresses .tfgc files (and GAN-reversal .tfgz "
                                          "files, with --generator) to PNG.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--out", required=True,
                   help="output folder (or a .png file name for a single input)")
    add_model_option(p)
    p.add_argument("--generator", default=None, metavar="PATH",
                   help="the generator that made the .tfgz (GAN-reversal) files; with "
                        "--prior, the GC model whose G decodes the prior's codes (default "
                        "there: the bundled model)")
    p.add_argument("--prior", default=None, metavar="PATH",
                   help="the code prior that made the .tfgz files (`tfgc reverse --prior`)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse files whose image has more than N pixels, before decoding "
                   f"(default {DEFAULT_MAX_PIXELS}, as Pillow; 0 = no limit)")
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(run=run_decompress)

    p = subparsers.add_parser(
        "info", help="print a .tfgc file's header",
        description="Prints the header fields and sizes of a .tfgc file. It reads the file "
                    "alone, without a model: it checks that the header's sizes agree on one "
                    "stride, not that the stride or the model fingerprint are those of the "
                    "model that will decode it (decompress checks both).")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_info)


NO_COLOUR_OFFSET_HELP = (
    "do not store the per-image colour offset that brings the decoded image's mean colour "
    "to the original's (9 bytes per file; the encoder runs the generator once more to "
    "choose it; docs/bitstream.md)")
QUIET_HELP = ("no progress bars (they are shown only on a terminal: over the files of a "
              "batch, and over the tiles of a big image)")


def _step_bar(steps: int, name: str, quiet: bool):
    """A progress bar over one image's optimisation steps, and the callback that moves it."""
    bar = tqdm(total=steps, desc=f"optimize {name}", unit="step", leave=False, file=sys.stderr,
               disable=True if not steps else shown_unless(quiet))
    return bar, lambda step, loss: bar.update(step - bar.n)


class _TileBar:
    """A progress bar over the tiles of one image's `passes` network passes (compress: the
    encoder's, then the generator's for the colour offset), shown once it has more than one
    tile per pass (a big image: the networks run in tiles of about 2 MP)."""

    def __init__(self, desc: str, quiet: bool, passes: int = 1):
        self.desc, self.quiet, self.passes, self.bar = desc, quiet, passes, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and total > self.passes:
            self.bar = tqdm(total=total, desc=self.desc, unit="tile", leave=False,
                            file=sys.stderr, disable=shown_unless(self.quiet))
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def run_compress(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs, None)
    check_output(args.out, ".tfgc", len(inputs))
    selective = {"labels": args.labels, "preserve": args.preserve,
                 "preserve_box": args.preserve_box, "preserve_mask": args.preserve_mask}
    if args.labels and len(inputs) > 1:
        raise TfgcError("--labels belongs to one image: give a single input with it")
    from tfgc.codec import load_codec  # TensorFlow: only once the arguments are known good
    from tfgc.data.images import load_image

    loss = {"optimize_loss": args.optimize_loss} if args.optimize_loss else {}
    if args.optimize_loss:
        from tfgc.latent_search.gc import parse_gc_loss

        parse_gc_loss(args.optimize_loss)  # before the model loads
    codec = load_codec(args.model)
    single = len(inputs) == 1
    batch, conversions = FileBatch("compressed", "image(s)"), []
    for path in batch.progress(inputs, "compress", args.quiet):
        target = output_path(path, args.out, ".tfgc", single)
        with batch.file(path, target):
            loaded = load_image(path)
            if loaded.conversions:
                conversions.append((path, loaded.conversions))
            name = os.path.basename(path)
            bar, progress = _step_bar(args.optimize, name, args.quiet)
            passes = codec.encode_passes(args.optimize, args.colour_offset)
            with bar, _TileBar(f"compress {name}", args.quiet, passes) as tiles:
                result = codec.compress_with_stats(
                    loaded.pixels, args.noise_seed, optimize_steps=args.optimize,
                    progress=progress, tile_progress=tiles, colour_offset=args.colour_offset,
                    **loss, **selective)
            write_bytes_atomic(target, result.data)
            batch.count(len(result.data), result.height * result.width)
    if conversions:
        path, notes = conversions[0]
        more = f" (and {len(conversions) - 1} more)" if len(conversions) > 1 else ""
        print(f"note: converted as a viewer shows it: {path}: {'; '.join(notes)}{more}",
              file=sys.stderr)
    return batch.finish()


def run_decompress(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs, (".tfgc", ".tfgz"))
    check_output(args.out, ".png", len(inputs))
    from tfgc.codec import load_codec
    from tfgc.data.images import write_png
    from tfgc.reversal.decoding import ReversalDecoder

    reversal = ReversalDecoder(args.generator, args.prior)
    codec = None
    if not all(path.lower().endswith(".tfgz") for path in inputs):
        codec = load_codec(args.model)
    max_pixels = {} if args.max_pixels is None else {"max_pixels": args.max_pixels or None}
    single = len(inputs) == 1
    batch = FileBatch("decompressed", "file(s)")
    for path in batch.progress(inputs, "decompress", args.quiet):
        target = output_path(path, args.out, ".png", single)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            batch.fail(path, f"cannot read it: {os_error_message(e)}")
            continue
        with batch.file(path, target):
            if reversal.accepts(data):
                pixels = reversal.decompress(data, **max_pixels)
            else:
                codec = codec or load_codec(args.model)
                with _TileBar(f"decompress {os.path.basename(path)}", args.quiet) as tiles:
                    pixels = codec.decompress(data, **max_pixels, tile_progress=tiles)
            write_png(target, pixels)
            batch.count(len(data), pixels.shape[0] * pixels.shape[1])
    return batch.finish()


def _section_info(section, pixels: int) -> dict:
    from tfgc.coding import format as fmt

    size = fmt.SECTION_HEADER.size + len(section.data)
    return {"type": section.type, "name": fmt.SECTION_NAMES.get(section.type, "unknown"),
            "required": section.required, "bytes": size, "bpp": round(8 * size / pixels, 5)}


def run_info(args: argparse.Namespace) -> int:
    from tfgc import coding

    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TfgcError(f"cannot read {args.file}: {os_error_message(e)}") from None
    header = coding.parse_header(data)
    pixels = header.image_height * header.image_width
    fields = {
        "file": args.file,
        "file_bytes": len(data),
        "header_bytes": coding.header_size(data),
        "payload_bytes": len(data) - coding.header_size(data),
        "bpp": 8 * len(data) / pixels,
        "format_version": header.version,
        "model_fingerprint": header.fingerprint.hex(),
        "image_height": header.image_height,
        "image_width": header.image_width,
        "pad_bottom": header.pad_bottom,
        "pad_right": header.pad_right,
        "stride": (header.image_height + header.pad_bottom) // header.latent_height,
        "latent_shape": [header.latent_height, header.latent_width, header.channels],
        "num_centers": header.num_centers,
        "entropy_model": coding.STRUCTURE_NAMES[header.structure]
        + (" (model tables)" if header.model_tables else " (tables in file)"),
        "table_precision": [header.precision_base, header.precision_step],
        "noise_seed": header.noise_seed,
        "tables_bytes": header.tables_size,
        "stream_lengths": list(header.stream_lengths),
        "mode": "selective (SC)" if header.selective else "GC",
        "sections": [_section_info(s, pixels) for s in header.sections],
        "colour_offset": list(header.colour_offset),  # R, G, B levels the decoder adds
    }
    mask = header.preserve_mask()
    if mask is not None:
        fields["preserved_latents"] = (f"{sum(map(sum, mask))} of "
                                       f"{header.latent_height * header.latent_width}")
    if args.json:
        print(json.dumps(fields, indent=2, default=str))
    else:
        width = max(len(k) for k in fields)
        for key, value in fields.items():
            if key == "stream_lengths":
                value = f"{len(value)} streams, {min(value)}..{max(value)} bytes"
            if key == "sections":
                value = "; ".join(f"{s['name']} (type {s['type']}): {s['bytes']} bytes, "
                                  f"{s['bpp']} bpp" for s in value) or "none"
            print(f"{key:<{width}}  {value}")
    return 0


