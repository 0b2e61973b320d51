"""Peak memory and time to compress and decompress big photos, tiled vs whole-image.

    python bench/big_images.py [--sizes 2 6 12 24] [--config configs/cpu_gc_c8.py]

Each measurement runs in a fresh process (so its peak RSS is its own): the bundled model's
architecture (`configs/cpu_gc_c8.py`, weights freshly initialised: memory and time depend on
the architecture, not on the weights), a generated photo-like image of N megapixels (3:2),
then `compress_one` and `decompress_one` of the codec module, once each after a warm-up on a
small image (so tracing is not timed). "whole" runs the networks on the whole image at once
(one tile: what tfgc did before tiling); "tiled" uses the default tile budget. Writes
bench/results/big_images.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
WHOLE = 1 << 40  # a tile budget no image reaches: the networks see the whole image


def photo(megapixels: float, seed: int = 0):
    """Smooth gradients, soft blobs and grain: compresses like a photo, not like noise."""
    import numpy as np

    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(megapixels * 1e6 / width)
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    image = np.empty((height, width, 3), np.float32)
    for c in range(3):
        image[..., c] = 90 + 80 * np.sin(3 * x + 2 * c) * np.cos(2 * y - c)
        for _ in range(6):
            cx, cy, r = rng.random(3)
            image[..., c] += 60 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.02 + 0.1 * r))
    for start in range(0, height, 512):  # grain, in strips to keep the peak low
        strip = image[start:start + 512]
        strip += rng.normal(0, 6, strip.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def child(args) -> None:
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, ROOT)
    from tfgc.config import from_json, to_json
    from tfgc.export.modules import make_module, model_fingerprint
    from tfgc.networks import CodecNetworks

    config = from_json(to_json(runpy.run_path(args.config)["get_config"]()))
    tf.keras.utils.set_random_seed(0)  # the same weights in every process: outputs comparable
    networks = CodecNetworks.from_config(config.model)
    networks.tile_positions = WHOLE if args.mode == "whole" else args.tile_positions
    module = make_module(networks, None, model_fingerprint(networks, None))
    seed = tf.constant(0, tf.int64)
    limit = tf.constant(1 << 40, tf.int64)
    module.decompress_one(module.compress_one(tf.constant(photo(0.05)), seed), limit)  # trace
    image = tf.constant(photo(args.megapixels))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    data = module.compress_one(image, seed)
    encode_s = time.perf_counter() - start
    encode_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    pixels = module.decompress_one(data, limit).numpy()
    decode_s = time.perf_counter() - start
    assert pixels.shape == tuple(image.shape), pixels.shape
    print(json.dumps({"encode_s": encode_s, "decode_s": decode_s, "base_kb": base,
                      "encode_peak_kb": encode_peak, "bytes": len(data.numpy()),
                      "height": int(image.shape[0]), "width": int(image.shape[1]),
                      "checksum": int(np.sum(pixels, dtype=np.int64))}))


def measure(megapixels: float, mode: str, args) -> dict:
    command = [sys.executable, __file__, "--child", "--mode", mode, "--megapixels",
               str(megapixels), "--config", args.config, "--tile-positions",
               str(args.tile_positions)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               cwd=ROOT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    if status != 0:
        return {"megapixels": megapixels, "mode": mode, "error": err.strip().splitlines()[-1:]}
    result = json.loads(out.strip().splitlines()[-1])
    result.update(megapixels=megapixels, mode=mode, peak_gb=usage.ru_maxrss / 2**20,
                  base_gb=result["base_kb"] / 2**20, encode_peak_gb=result["encode_peak_kb"]
                  / 2**20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 6, 12, 24])
    parser.add_argument("--modes", nargs="+", default=["tiled", "whole"])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "cpu_gc_c8.py"))
    parser.add_argument("--tile-positions", type=int, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--megapixels", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tile_positions is None:
        sys.path.insert(0, ROOT)
        from tfgc.networks.tiling import DEFAULT_TILE_POSITIONS

        args.tile_positions = DEFAULT_TILE_POSITIONS
    if args.child:
        child(args)
        return
    rows = []
    for megapixels in args.sizes:
        for mode in args.modes:
            row = measure(megapixels, mode, args)
            print(json.dumps(row), flush=True)
            rows.append(row)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "big_images.json"), "w") as f:
        json.dump({"config": os.path.relpath(args.config, ROOT),
                   "tile_positions": args.tile_positions, "rows": rows}, f, indent=2)
    lines = [f"# Big images: `{os.path.relpath(args.config, ROOT)}`, tile budget "
             f"{args.tile_positions} latent positions", "",
             "Peak RSS of the whole process (TF and the model included); encode peak is the "
             "peak after compress, the process peak is after decompress.", "",
             "| MP | size | mode | compress s | decompress s | peak after compress GB | "
             "process peak GB | baseline GB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['megapixels']} | | {r['mode']} | failed: {r['error']} | | | | |")
            continue
        lines.append(f"| {r['megapixels']} | {r['width']}x{r['height']} | {r['mode']} | "
                     f"{r['encode_s']:.1f} | {r['decode_s']:.1f} | {r['encode_peak_gb']:.2f} | "
                     f"{r['peak_gb']:.2f} | {r['base_gb']:.2f} |")
    with open(os.path.join(RESULTS, "big_images.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
