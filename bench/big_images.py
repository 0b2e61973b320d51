"""Peak memory and time to compress and decompress big photos: tiles driven from Python,
tiles in one graph call, or the whole image at once.

    python bench/big_images.py [--models gc sc] [--sizes 6 12 24] [--modes api graph]
                               [--repeats 3]

Each measurement runs in a fresh process (so its peak RSS is its own): a bundled model's
architecture (gc: `configs/cpu_gc_c8.py`; sc, selective compression: `configs/cpu_sc_scenes.py`,
with a blocky Cityscapes label map and the left half of the image preserved; weights freshly
initialised: memory and time depend on the architecture, not on the weights), a generated
photo-like image of N megapixels (3:2),
then compress and decompress `--repeats` times after a warm-up on a small image (so tracing
is not timed); times are medians. Modes: "api" is what the Python API and the CLI run (the
codec drives the tiles, one call each, with progress); "graph" runs the same tiles inside one
graph call (the SavedModels' compress_one / decompress_one; the API before it drove tiles);
"whole" runs the networks on the whole image at once (what tfgc did before tiling). Writes
bench/results/NAME.{json,md} (--output; default big_images) after each measurement, so a run
stopped early keeps its rows. bench/results/big_images.md is the summary of all runs, edited
by hand: write a new run under another name (the published ones are listed there).
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
CONFIGS = {"gc": os.path.join(ROOT, "configs", "cpu_gc_c8.py"),
           "sc": os.path.join(ROOT, "configs", "cpu_sc_scenes.py")}


def photo(megapixels: float, seed: int = 0):
    """Smooth gradients, soft blobs and grain: compresses like a photo, not like noise. Made
    in strips of rows straight into uint8, so making it does not raise the process's peak."""
    import numpy as np

    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(megapixels * 1e6 / width)
    rng = np.random.default_rng(seed)
    blobs = rng.random((3, 6, 3))
    image = np.empty((height, width, 3), np.uint8)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    for start in range(0, height, 256):
        y = np.linspace(0, 1, height, dtype=np.float32)[start:start + 256, None]
        strip = np.empty((len(y), width, 3), np.float32)
        for c in range(3):
            strip[..., c] = 90 + 80 * np.sin(3 * x + 2 * c) * np.cos(2 * y - c)
            for cx, cy, r in blobs[c]:
                strip[..., c] += 60 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.02 + 0.1 * r))
        strip += rng.normal(0, 6, strip.shape).astype(np.float32)
        image[start:start + 256] = np.clip(strip, 0, 255).astype(np.uint8)
    return image


def label_maps(height: int, width: int, seed: int = 0):
    """SC inputs of an image: Cityscapes label ids in blocks of ~100 px (every class, a few
    ignored blocks), their train ids, and a preservation mask keeping the left half; uint8
    [H, W] each, made without a full-size temporary wider than uint8."""
    import numpy as np

    from tfgc.semantic.labels import label_set

    lookup = label_set("cityscapes").lookup()
    rng = np.random.default_rng(seed)
    block = 100
    grid = rng.integers(0, 256, ((height + block - 1) // block, (width + block - 1) // block))
    label_ids = np.arange(256)[lookup != 255]
    grid = np.where(grid < 20, 0, label_ids[grid % len(label_ids)]).astype(np.uint8)
    ids = np.repeat(np.repeat(grid, block, 0)[:height], block, 1)[:, :width]
    mask = np.zeros((height, width), np.uint8)
    mask[:, :width // 2] = 1
    return ids, lookup.astype(np.uint8)[ids], mask


def reset_peak() -> None:
    """Restarts the kernel's peak-RSS count of this process (Linux), so `peak_kb` then reads
    the peak of what runs after."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_kb() -> int:
    """Peak RSS since the last `reset_peak` (VmHWM), in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def child(args) -> None:
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, ROOT)
    from tfgc.codec import Codec
    from tfgc.config import from_json, to_json
    from tfgc.export.modules import make_module
    from tfgc.networks import CodecNetworks

    config = from_json(to_json(runpy.run_path(args.config)["get_config"]()))
    tf.keras.utils.set_random_seed(0)  # the same weights in every process: outputs comparable
    networks = CodecNetworks.from_config(config.model)
    networks.tile_positions = WHOLE if args.mode == "whole" else args.tile_positions
    module = make_module(networks, None)
    selective = networks.mode == "sc"
    if args.mode == "api":
        codec = Codec(module, "bench")

        def compress(image, maps):
            if not selective:
                return codec.compress(image)
            ids, _, mask = maps
            return codec.compress(image, labels=ids, preserve_mask=mask)

        decompress = lambda data: codec.decompress(data, max_pixels=None)  # noqa: E731
    else:
        seed, limit = tf.constant(0, tf.int64), tf.constant(1 << 40, tf.int64)

        def compress(image, maps):
            inputs = [tf.constant(m) for m in maps[1:]]  # train ids, mask (SC)
            return module.compress_one(tf.constant(image), seed, *inputs).numpy()

        decompress = lambda data: module.decompress_one(data, limit).numpy()  # noqa: E731

    def inputs(megapixels):
        image = photo(megapixels)
        return image, label_maps(*image.shape[:2]) if selective else ()

    decompress(compress(*inputs(0.05)))  # trace
    image, maps = inputs(args.megapixels)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    encode_s, decode_s, encode_cpu, decode_cpu, decode_peak = [], [], [], [], 0
    for _ in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        data = compress(image, maps)
        encode_s.append(time.perf_counter() - start)
        encode_cpu.append(time.process_time() - cpu)
        encode_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        pixels = decompress(data)
        decode_s.append(time.perf_counter() - start)
        decode_cpu.append(time.process_time() - cpu)
        decode_peak = max(decode_peak, peak_kb())
        assert pixels.shape == image.shape, pixels.shape
        checksum = int(np.sum(pixels, dtype=np.int64))
        del pixels
    print(json.dumps({"encode_s": float(np.median(encode_s)),
                      "decode_s": float(np.median(decode_s)),
                      "encode_cpu_s": float(np.median(encode_cpu)),
                      "decode_cpu_s": float(np.median(decode_cpu)),
                      "encode_all_s": encode_s, "decode_all_s": decode_s,
                      "encode_all_cpu_s": encode_cpu, "decode_all_cpu_s": decode_cpu,
                      "base_kb": base,
                      "encode_peak_kb": encode_peak, "decode_peak_kb": decode_peak,
                      "bytes": len(data),
                      "height": int(image.shape[0]), "width": int(image.shape[1]),
                      "checksum": checksum, "model": networks.mode,
                      "load": os.getloadavg()[0]}))


def measure(model: str, megapixels: float, mode: str, args) -> dict:
    command = [sys.executable, __file__, "--child", "--mode", mode, "--megapixels",
               str(megapixels), "--config", CONFIGS[model], "--tile-positions",
               str(args.tile_positions), "--repeats", str(args.repeats)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               cwd=ROOT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    if status != 0:
        return {"model": model, "megapixels": megapixels, "mode": mode,
                "error": err.strip().splitlines()[-1:]}
    result = json.loads(out.strip().splitlines()[-1])
    result.update(model=model, megapixels=megapixels, mode=mode, peak_gb=usage.ru_maxrss / 2**20,
                  base_gb=result["base_kb"] / 2**20, encode_peak_gb=result["encode_peak_kb"]
                  / 2**20, decode_peak_gb=result["decode_peak_kb"] / 2**20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gc", "sc"], choices=sorted(CONFIGS))
    parser.add_argument("--sizes", type=float, nargs="+", default=[6, 12, 24])
    parser.add_argument("--modes", nargs="+", default=["api", "graph"],
                        choices=["api", "graph", "whole"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="compress and decompress this many times (median times)")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--output", default="big_images",
                        help="results name: bench/results/NAME.{json,md}")
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
    for model in args.models:
        for megapixels in args.sizes:
            for mode in args.modes:
                row = measure(model, megapixels, mode, args)
                print(json.dumps(row), flush=True)
                rows.append(row)
                text = write(rows, args)  # after each row: a stopped run keeps what it measured
    print(text)


def write(rows: list[dict], args) -> str:
    """Writes bench/results/NAME.{json,md} of the rows measured so far; the Markdown."""
    os.makedirs(RESULTS, exist_ok=True)
    configs = {model: os.path.relpath(CONFIGS[model], ROOT) for model in args.models}
    with open(os.path.join(RESULTS, f"{args.output}.json"), "w") as f:
        json.dump({"configs": configs, "tile_positions": args.tile_positions, "rows": rows},
                  f, indent=2)
    lines = [f"# Big images: tile budget {args.tile_positions} latent positions", "",
             "Models: " + ", ".join(f"{m} = `{c}`" for m, c in configs.items()) + ".", "",
             "Peak RSS of the whole process (TF and the model included): after the last "
             "compress (so earlier decompressions count too when repeated), during the "
             "decompressions alone (the kernel's peak count restarted before each), and at "
             "the end; baseline is the peak before compressing (TF, the model, the image and "
             "SC's maps). Times are "
             f"medians of {args.repeats} runs: wall seconds, and CPU seconds of the process "
             "(user + system, all threads), which a loaded machine inflates far less; load is "
             "the 1-minute load average of the 2-core machine at the end of the measurement.",
             "",
             "| model | MP | size | mode | compress s | decompress s | s per MP | "
             "compress CPU s | decompress CPU s | CPU s per MP | "
             "peak after last compress GB | decompress peak GB | process peak GB | "
             "baseline GB | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['megapixels']} | | {r['mode']} | failed: "
                         f"{r['error']} | | | | | | | | | | |")
            continue
        per_mp = (r["encode_s"] + r["decode_s"]) / r["megapixels"]
        cpu_per_mp = (r["encode_cpu_s"] + r["decode_cpu_s"]) / r["megapixels"]
        lines.append(f"| {r['model']} | {r['megapixels']} | {r['width']}x{r['height']} | "
                     f"{r['mode']} | "
                     f"{r['encode_s']:.1f} | {r['decode_s']:.1f} | {per_mp:.2f} | "
                     f"{r['encode_cpu_s']:.1f} | {r['decode_cpu_s']:.1f} | {cpu_per_mp:.2f} | "
                     f"{r['encode_peak_gb']:.2f} | {r['decode_peak_gb']:.2f} | "
                     f"{r['peak_gb']:.2f} | {r['base_gb']:.2f} | "
                     f"{r['load']:.1f} |")
    checksums = {}
    for r in rows:
        if "error" not in r:
            checksums.setdefault((r["model"], r["megapixels"]), set()).add(
                (r["bytes"], r["checksum"]))
    same = all(len(v) == 1 for v in checksums.values())
    lines += ["", "Files and decoded pixels (byte count and pixel checksum, in the JSON) were "
              + ("identical across the modes at every size." if same else
                 "NOT identical across the modes at some size: see the JSON.")]
    with open(os.path.join(RESULTS, f"{args.output}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
