"""The seed paper's Table 1 protocol on our generator: GAN reversal against PNG, k-means
(K = 2, 4) + lossless coding, and JPEG at quality 10 and 1.

"seen" images are the generator's own samples (z from the prior); "unseen" are images the
generator never saw: centre crops of a held-out photo folder (scaled like the training crops),
or procedural street scenes drawn from a seed the training did not use (for a generator trained
with `python -m tfgc.training.dcgan --scenes N`, which draws scenes (seed, 0..N-1)).
Columns: bpp, compression ratio against PNG, PSNR, MSE, SSIM (means over images), and
seconds per image for reversal. Writes results.json (the means, and under "per_image" every
image's figures per scheme, so a comparison can be paired image by image) / results.md and a
figure of examples.

    python bench/reversal_table1.py --generator runs/gen64 --unseen KODAK_DIR \
        --out bench/results/reversal_table1 [--count 8] [--steps 300] [--restarts 4]
    python bench/reversal_table1.py --generator runs/scenes64 --unseen-scenes 8 \
        --out bench/results/reversal_table1_scenes64
    python bench/reversal_table1.py --model MODEL --prior PRIOR --unseen KODAK_DIR --whole \
        --out bench/results/reversal_table1_prior_whole   # a GC model's G after a code prior

With --scale-to 0 unseen images are only centre-cropped; with --whole (a prior + G generator,
which makes any size as a grid of prior tiles) they are whole images, and "seen" images are
the generator's samples at the first unseen image's size.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgc.data.images import list_images, read_rgb, write_png
from tfgc.reversal import ReversalSettings, Reverser, load_generator
from tfgc.reversal.generators import load_prior_generator
from tfgc.reversal.reverse import reversal_file
from tfgc.utils.files import write_text_atomic


def png_bytes(pixels: np.ndarray, palette_image: Image.Image | None = None) -> int:
    buffer = io.BytesIO()
    (palette_image or Image.fromarray(pixels)).save(buffer, "PNG", optimize=True)
    return len(buffer.getvalue())


def kmeans(pixels: np.ndarray, k: int, iterations: int = 20, seed: int = 0
           ) -> tuple[np.ndarray, int]:
    """Colours quantised to k centres (Lloyd's algorithm); size as a palette PNG."""
    data = pixels.reshape(-1, 3).astype(np.float64)
    rng = np.random.default_rng(seed)
    centres = data[rng.choice(len(data), k, replace=False)]
    for _ in range(iterations):
        labels = np.argmin(((data[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if (labels == j).any():
                centres[j] = data[labels == j].mean(0)
    palette = np.clip(np.round(centres), 0, 255).astype(np.uint8)
    out = palette[labels].reshape(pixels.shape)
    image = Image.fromarray(labels.reshape(pixels.shape[:2]).astype(np.uint8), "P")
    image.putpalette(palette.ravel().tolist() + [0] * (768 - 3 * k))
    return out, png_bytes(out, image)


def jpeg(pixels: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, optimize=True)
    data = buffer.getvalue()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), len(data)


def quality(original: np.ndarray, out: np.ndarray) -> dict:
    import tensorflow as tf

    mse = float(np.mean((original.astype(np.float64) - out.astype(np.float64)) ** 2))
    ssim = float(tf.image.ssim(tf.constant(original, tf.float32), tf.constant(out, tf.float32),
                               255.0).numpy())
    return {"mse": mse, "psnr": 10 * np.log10(255.0**2 / mse) if mse > 0 else float("inf"),
            "ssim": ssim}


def unseen_crops(folder: str, shape: tuple[int, int], scale_to: int, count: int
                 ) -> list[tuple[str, np.ndarray]]:
    """(file name, centre crop [h, w]) of the first `count` images that hold one, scaled to a
    shorter side of `scale_to` first (0: as they are)."""
    crops, (h, w) = [], shape
    for path in list_images(folder):
        image = Image.fromarray(read_rgb(path))
        if scale_to:
            factor = scale_to / min(image.size)
            image = image.resize((round(image.width * factor), round(image.height * factor)),
                                 Image.LANCZOS)
        if image.height < h or image.width < w:
            continue
        top, left = (image.height - h) // 2, (image.width - w) // 2
        crops.append((os.path.basename(path), np.asarray(image)[top:top + h, left:left + w]))
        if len(crops) == count:
            break
    return crops


def unseen_scenes(shape: tuple[int, int], count: int, seed: int
                  ) -> list[tuple[str, np.ndarray]]:
    from tfgc.semantic.scenes import generate_scene

    return [(f"scene ({seed}, {i})", generate_scene(*shape, (seed, i)).image)
            for i in range(count)]


def whole_images(folder: str, count: int) -> list[tuple[str, np.ndarray]]:
    return [(os.path.basename(path), read_rgb(path)) for path in list_images(folder)[:count]]


def half(image: np.ndarray) -> np.ndarray:
    """For the figure of whole images."""
    return np.asarray(Image.fromarray(image).resize((image.shape[1] // 2, image.shape[0] // 2),
                                                    Image.LANCZOS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", help="a generator SavedModel")
    parser.add_argument("--prior", help="instead: a code prior, with --model its GC model")
    parser.add_argument("--model", default=None, help="the GC model of --prior (default bundled)")
    unseen = parser.add_mutually_exclusive_group(required=True)
    unseen.add_argument("--unseen", help="folder of held-out photos")
    unseen.add_argument("--unseen-scenes", action="store_true",
                        help="held-out procedural street scenes (from --scene-seed)")
    parser.add_argument("--scene-seed", type=int, default=1000,
                        help="seed of the held-out scenes (training used --seed, default 0)")
    parser.add_argument("--whole", action="store_true",
                        help="with --prior: whole unseen images, seen samples at their size")
    parser.add_argument("--scale-to", type=int, default=128,
                        help="unseen photos are scaled to this shorter side (as in training); "
                             "0: not scaled")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--seen-loss", default="mse")
    parser.add_argument("--unseen-loss", default="ssim")
    parser.add_argument("--quantization", default="0.1")
    parser.add_argument("--finetune-steps", type=int, default=ReversalSettings.finetune_steps)
    parser.add_argument("--learning-rate", type=float, default=ReversalSettings.learning_rate)
    parser.add_argument("--no-encoder-start", dest="encoder_start", action="store_false",
                        help="random starts only, even for a generator with an encoder")
    parser.add_argument("--out", default="bench/results/reversal_table1")
    args = parser.parse_args()
    if bool(args.generator) == bool(args.prior):
        parser.error("give --generator or --prior")
    if args.whole and not (args.prior and args.unseen):
        parser.error("--whole needs --prior and --unseen")

    tiled = load_prior_generator(args.prior, args.model) if args.prior else None
    if args.whole:
        unseen = whole_images(args.unseen, args.count)
        generator = tiled.at(unseen[0][1].shape[:2])
    else:
        generator = tiled.at(tiled.tile_shape) if tiled else load_generator(args.generator)
    h, w = generator.image_shape
    seen = [(f"sample (seed {1000 + i})",
             generator.picture(generator.sample_latents(1, 1000 + i).numpy()))
            for i in range(args.count)]
    if not args.whole:
        unseen = (unseen_scenes((h, w), args.count, args.scene_seed) if args.unseen_scenes
                  else unseen_crops(args.unseen, (h, w), args.scale_to, args.count))
    sets = {"seen": (seen, args.seen_loss), "unseen": (unseen, args.unseen_loss)}
    results, per_image, examples, cpu, chosen = {}, {}, {}, {}, {}
    for name, (images, loss) in sets.items():
        settings = ReversalSettings(
            loss=loss, steps=args.steps, restarts=args.restarts,
            quantization=args.quantization, finetune_steps=args.finetune_steps,
            learning_rate=args.learning_rate, encoder_start=args.encoder_start)
        reversers: dict[tuple[int, int], Reverser] = {}
        rows: dict[str, list[dict]] = {}
        for i, (image_id, image) in enumerate(images):
            shape = image.shape[:2]
            if shape not in reversers:
                reversers[shape] = Reverser(tiled.at(shape) if args.whole else generator,
                                            settings)
            reverser = reversers[shape]
            h, w = shape
            png = png_bytes(image)
            outputs = {"PNG": (image, png)}
            for k in (2, 4):
                outputs[f"k-means K={k}"] = kmeans(image, k)
            for q in (10, 1):
                outputs[f"JPEG {q}%"] = jpeg(image, q)
            start, cpu_start = time.perf_counter(), time.process_time()
            result = reverser.reverse(image)
            seconds = time.perf_counter() - start
            cpu.setdefault(name, []).append(time.process_time() - cpu_start)
            chosen.setdefault(name, []).append(
                "encoder" if result.restart == 0 and result.start == "encoder"
                else result.restart)
            data = reversal_file(reverser.generator, result.code)
            outputs["GAN reversal (ours)"] = (result.reconstruction, len(data))
            per_image.setdefault(name, []).append({"image": image_id, "schemes": {}})
            for method, (out, size) in outputs.items():
                bpp = 8 * size / (h * w)
                row = {"bytes": size, "bpp": bpp, "ratio": (8 * png / (h * w)) / bpp,
                       **({"mse": 0.0, "psnr": float("inf"), "ssim": 1.0} if method == "PNG"
                          else quality(image, out))}
                if method.startswith("GAN"):
                    row["seconds"] = seconds
                rows.setdefault(method, []).append(row)
                per_image[name][-1]["schemes"][method] = row
            if i < 4 and h * w <= 256 * 256:
                examples.setdefault(name, []).append([o for o, _ in outputs.values()])
            elif i < 2 and (h, w) == tuple(generator.image_shape):  # whole images: half size
                examples.setdefault(name, []).append([half(o) for o, _ in outputs.values()])
            ours = rows["GAN reversal (ours)"][-1]
            print(f"{name} {i}: reversal {len(data)} B, {ours['psnr']:.2f} dB, SSIM "
                  f"{ours['ssim']:.3f}, {seconds:.1f} s, restart {chosen[name][-1]}",
                  flush=True)
        results[name] = {m: {k: statistics.fmean(r[k] for r in v) for k in v[0]}
                         for m, v in rows.items()}
    os.makedirs(args.out, exist_ok=True)
    unused = {"out", "unseen", "generator", "prior", "model"}  # named otherwise, or paths
    if args.whole or args.unseen_scenes:
        unused.add("scale_to")  # only photo crops are scaled
    if not args.unseen_scenes:
        unused.add("scene_seed")
    run = {"generator": generator.name, "fingerprint": generator.fingerprint.hex(),
           "image_shape": list(generator.image_shape),
           "latent_shape": list(generator.latent_shape),
           "cpu_seconds_per_image": {k: [round(v, 1) for v in vs] for k, vs in cpu.items()},
           "has_encoder": generator.encode is not None,
           "restart_kept_per_image": chosen,
           "unseen": ("procedural scenes" if args.unseen_scenes
                      else os.path.basename(os.path.normpath(args.unseen))),
           **{k: v for k, v in vars(args).items() if k not in unused},
           "load_average": [round(v, 1) for v in os.getloadavg()]}
    write_text_atomic(os.path.join(args.out, "results.json"),
                      json.dumps({"run": run, "results": results, "per_image": per_image},
                                indent=1))
    h, w = generator.image_shape
    lines = ["# GAN reversal, Table 1 protocol (seed paper)", "",
             f"Generator `{generator.name}` ({h}x{w}, z {list(generator.latent_shape)}"
             f"{'; whole images, any size' if args.whole else ''}), "
             f"{args.count} images per set, reversal: {args.restarts} restarts x {args.steps} "
             f"steps (+ {args.finetune_steps} quantisation-aware), quantisation "
             f"{args.quantization}, range coder; losses: seen {args.seen_loss}, unseen "
             f"{args.unseen_loss} ({run['unseen']}). Load average {run['load_average']}; "
             f"reversal CPU-s per image: {run['cpu_seconds_per_image']}; restart kept per "
             f"image (\"encoder\": the encoder's start): {chosen}.",
             ""]
    for name, table in results.items():
        lines += [f"## {name}", "", "| scheme | bpp | CR | PSNR dB | MSE | SSIM | s/image |",
                  "|---|---|---|---|---|---|---|"]
        for method, m in table.items():
            lines.append(f"| {method} | {m['bpp']:.4f} | {m['ratio']:.2f} | {m['psnr']:.2f} | "
                         f"{m['mse']:.2f} | {m['ssim']:.4f} | "
                         f"{m['seconds']:.1f} |" if "seconds" in m else
                         f"| {method} | {m['bpp']:.4f} | {m['ratio']:.2f} | {m['psnr']:.2f} | "
                         f"{m['mse']:.2f} | {m['ssim']:.4f} | |")
        lines.append("")
    write_text_atomic(os.path.join(args.out, "results.md"), "\n".join(lines))
    for name, rows_of_images in examples.items():  # rows: images; columns: the schemes
        grid = np.concatenate([np.concatenate(row, axis=1) for row in rows_of_images], axis=0)
        write_png(os.path.join(args.out, f"examples_{name}.png"), grid)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
