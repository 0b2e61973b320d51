"""Serving latency of the exported SavedModels vs the Python API, on Kodak-sized images.

Times every signature of both exports (tfgc: compress, decompress; tfgc_stock: analysis,
synthesis, decompress) and the Python API doing the same work (`Codec.from_workdir`:
compress, decompress), all in one process and interleaved call by call (shuffled order each
round), so the ratios compare calls that saw the same CPU load. Also times the entropy-decoding
stage alone, `decode_symbols(backend="stock")` vs `"tfc"`, on the same files, and
`tf.io.encode_png`, which the decompress signatures do and the Python API does not.

The model: by default the latest checkpoint of a training workdir, copied to a temp dir first
(training keeps only a few checkpoints and deletes old ones) and exported from there with
`export.py`; or `--export_dir` of an existing export (its step's checkpoint in `--workdir`
builds the Python codec, if still there). The Python codec gets the export's context tables,
so with the same checkpoint both sides must produce identical bytes and pixels: checked
before timing, and recorded.

    python bench/serving_latency.py --kodak KODAK_DIR --workdir runs/cpu_gc_c8 --images 3 \
        --repeats 3 --out bench/results
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tensorflow_compression  # noqa: F401  (registers the ops the full export needs)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfgc import coding
from tfgc.codec import Codec
from tfgc.data.images import load_image
from tfgc.utils.files import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
KODAK_HW = (512, 768)  # landscape Kodak; portrait ones would change the per-row stream count

# Timed cases: name -> (export, signature, Python API counterpart or None).
CASES: dict[str, tuple[str, str, str | None]] = {
    "py_compress": ("Python API", "Codec.compress", None),
    "py_decompress": ("Python API", "Codec.decompress", None),
    "full_compress": ("tfgc", "compress", "py_compress"),
    "full_decompress": ("tfgc", "decompress", "py_decompress"),
    "stock_analysis": ("tfgc_stock", "analysis", "py_compress"),
    "stock_synthesis": ("tfgc_stock", "synthesis", "py_decompress"),
    "stock_decompress": ("tfgc_stock", "decompress", "py_decompress"),
    "decode_tfc": ("-", "decode_symbols(backend='tfc')", None),
    "decode_stock": ("-", "decode_symbols(backend='stock')", "decode_tfc"),
    "encode_png": ("-", "tf.io.encode_png", "py_decompress"),
}
# Cases that do only part of their counterpart's work: their ratio is a share, not a speed-up.
PARTIAL = {"stock_analysis", "stock_synthesis", "encode_png"}


# --------------------------------------------------------------------------------------------
# Inputs and model


def kodak_images(kodak: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """The first `count` landscape 768x512 Kodak images, checked against SHA256SUMS."""
    sums: dict[str, str] = {}
    if (kodak / "SHA256SUMS").exists():
        for line in (kodak / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    images = []
    for path in sorted(kodak.glob("kodim*.png")):
        if path.name in sums and hashlib.sha256(path.read_bytes()).hexdigest() != sums[path.name]:
            raise SystemExit(f"{path} does not match {kodak / 'SHA256SUMS'}")
        pixels = load_image(str(path)).pixels
        if pixels.shape[:2] == KODAK_HW:
            images.append((path.name, pixels))
        if len(images) == count:
            return images
    raise SystemExit(f"only {len(images)} landscape Kodak images in {kodak}, asked for {count}")


def snapshot_workdir(workdir: Path, target: Path) -> Path:
    """A copy of config.json and the latest checkpoint, so training cannot delete it under us."""
    from tfgc.training.trainer import CHECKPOINT_DIR, CONFIG_FILE

    checkpoint = tf.train.latest_checkpoint(str(workdir / CHECKPOINT_DIR))
    if not checkpoint:
        raise SystemExit(f"no checkpoint in {workdir / CHECKPOINT_DIR}")
    (target / CHECKPOINT_DIR).mkdir(parents=True)
    shutil.copy2(workdir / CONFIG_FILE, target / CONFIG_FILE)
    for path in Path(checkpoint).parent.glob(Path(checkpoint).name + ".*"):
        shutil.copy2(path, target / CHECKPOINT_DIR / path.name)
    tf.compat.v1.train.update_checkpoint_state(str(target / CHECKPOINT_DIR), Path(checkpoint).name)
    return target / CHECKPOINT_DIR / Path(checkpoint).name


def run_export(workdir: Path, export_dir: Path) -> float:
    """Runs export.py as a user would; returns its wall time in seconds."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO / "export.py"), f"--workdir={workdir}",
         f"--export_dir={export_dir}"], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"export.py failed:\n{result.stderr[-3000:]}")
    print(result.stdout.strip(), flush=True)
    return time.perf_counter() - start


def latest_version(root: Path) -> Path:
    versions = [p for p in root.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists()]
    if not versions:
        raise SystemExit(f"no SavedModel version under {root}")
    return max(versions, key=lambda p: int(p.name))


# --------------------------------------------------------------------------------------------
# Timing


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(median), float(q3)


def time_rounds(cases: dict[str, Callable[[int], Any]], images: int, repeats: int,
                seed: int) -> dict[str, list[list[float]]]:
    """Seconds per call, [repeat][image], calling every case once per image per round in a
    shuffled order, so slow drifts in the CPU we get hit all cases alike."""
    rng = random.Random(seed)
    times: dict[str, list[list[float]]] = {name: [] for name in cases}
    for repeat in range(repeats):
        for row in times.values():
            row.append([0.0] * images)
        for image in range(images):
            order = list(cases)
            rng.shuffle(order)
            for name in order:
                start = time.perf_counter()
                cases[name](image)
                times[name][repeat][image] = time.perf_counter() - start
        print(f"round {repeat + 1}/{repeats} done", flush=True)
    return times


def summarize(times: dict[str, list[list[float]]]) -> dict[str, dict[str, Any]]:
    """Median and IQR per case, and ratios to its counterpart: of the medians, and the median
    of per-call ratios (each call vs the counterpart's call on the same image, same round)."""
    flat = {name: [t for row in rows for t in row] for name, rows in times.items()}
    summary: dict[str, dict[str, Any]] = {}
    for name, values in flat.items():
        q1, median, q3 = quartiles(values)
        export, signature, base = CASES[name]
        entry: dict[str, Any] = {"export": export, "signature": signature, "median_s": median,
                                 "q1_s": q1, "q3_s": q3, "calls": len(values),
                                 "vs": base, "partial_work": name in PARTIAL}
        if base is not None:
            paired = [a / b for a, b in zip(values, flat[base])]
            entry["ratio_of_medians"] = median / statistics.median(flat[base])
            entry["paired_ratio_median"], entry["paired_ratio_q1"], entry["paired_ratio_q3"] = (
                statistics.median(paired), *quartiles(paired)[::2])
        summary[name] = entry
    return summary


# --------------------------------------------------------------------------------------------
# Report


def git_state() -> dict[str, Any]:
    """The commit, and uncommitted changes to the code under test (others share this checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=REPO).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"),
            "dirty_files": git("status", "--porcelain", "--", "tfgc", "export.py").splitlines()}


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown CPU"


def markdown(result: dict[str, Any]) -> str:
    env, model, s = result["environment"], result["model"], result["summary"]
    names = {base: f"{CASES[base][1]}" for base in ("py_compress", "py_decompress", "decode_tfc")}
    lines = [
        "# Serving latency: SavedModel signatures vs the Python API (CPU)",
        "",
        f"{result['date']}; {env['cpu']}, {env['cpu_count']} logical CPUs; TensorFlow "
        f"{env['tensorflow']}, tensorflow-compression {env['tensorflow_compression']}. "
        f"`bench/serving_latency.py` at {env['git_start']['commit'][:7]}"
        f"{' + uncommitted changes' if env['git_start']['dirty_files'] else ''}, "
        f"{result['wall_minutes']:.1f} min."
        + ("" if env["git_start"] == env["git_end"] else
           f" **The checkout changed during the run** (now {env['git_end']['commit'][:7]})."),
        "",
        "**Shared machine:** the 2 CPUs were shared with a background train.py run and other "
        "engineers' jobs, so absolute times are pessimistic and noisy; compare the ratios, which "
        "come from calls interleaved in the same run. Load average (1/5/15 min): start "
        f"{env['load_start']}, end {env['load_end']}; this process used "
        f"{env['cores_used_while_timing']:.2f} cores while timing (2 = the whole machine).",
        "",
        f"Model: `{model['workdir']}` step {model['step']} (C={model['num_channels']}, "
        f"L={model['num_centers']}), exported {model['export_source']}. Inputs: "
        f"{len(result['images'])} Kodak images 768x512 ({', '.join(result['images'])}), mean "
        f"{result['mean_file_bytes']:.0f} bytes per file ({result['mean_bpp']:.4f} bpp). "
        f"{result['repeats']} rounds x {len(result['images'])} images = "
        f"{result['repeats'] * len(result['images'])} timed calls per row, after "
        f"{result['warmup']} untimed warm-up call(s) per row and image.",
        "",
        "| signature | export | median ms | IQR ms | vs Python API | ratio of medians | "
        "paired ratio (IQR) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = ["full_compress", "stock_analysis", "py_compress", "full_decompress",
            "stock_synthesis", "stock_decompress", "py_decompress", "encode_png"]
    for name in rows:
        e = s[name]
        base = e["vs"]
        if base is None:
            vs, ratio, paired = "(reference)", "1", "1"
        else:
            vs = names[base] + (" (part of its work)" if e["partial_work"] else "")
            ratio = f"{e['ratio_of_medians']:.2f}x"
            paired = (f"{e['paired_ratio_median']:.2f}x ({e['paired_ratio_q1']:.2f}-"
                      f"{e['paired_ratio_q3']:.2f})")
        lines.append(f"| {e['signature']} | {e['export']} | {e['median_s'] * 1e3:.1f} | "
                     f"{e['q1_s'] * 1e3:.1f}-{e['q3_s'] * 1e3:.1f} | {vs} | {ratio} | {paired} |")
    stock, tfc = s["decode_stock"], s["decode_tfc"]
    lines += [
        "",
        f"**Entropy decoding alone** (`decode_symbols` on the same {len(result['images'])} "
        f"files, latent {result['latent_hwc']}, one stream per latent row; Python-side "
        f"validation included for both): stock ops {stock['median_s'] * 1e3:.1f} ms (IQR "
        f"{stock['q1_s'] * 1e3:.1f}-{stock['q3_s'] * 1e3:.1f}) vs tfc "
        f"{tfc['median_s'] * 1e3:.1f} ms (IQR {tfc['q1_s'] * 1e3:.1f}-{tfc['q3_s'] * 1e3:.1f}): "
        f"stock/tfc = {stock['ratio_of_medians']:.1f}x (paired {stock['paired_ratio_median']:.1f}x"
        f", IQR {stock['paired_ratio_q1']:.1f}-{stock['paired_ratio_q3']:.1f}).",
        "",
        "Checks before timing (same checkpoint and tables on both sides): " + "; ".join(
            f"{k}: {'yes' if v else 'NO'}" for k, v in result["checks"].items()) + ".",
        "",
        "Ratio > 1: slower than the Python API. 'Ratio of medians' divides the two medians; "
        "'paired ratio' is the median (and IQR) of per-call ratios, each call against the "
        "counterpart's call on the same image in the same round, which cancels most load "
        "drift. The decompress signatures also PNG-encode the image (row tf.io.encode_png); "
        "the Python API returns the array. analysis/synthesis do only part of compress/"
        "decompress, so their ratio is a share. All exports are loaded in this one process "
        "(tensorflow_compression imported for the full one), not in a server.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", type=Path, required=True,
                        help="folder of the Kodak images (kodim01.png ..., SHA256SUMS)")
    parser.add_argument("--workdir", type=Path, required=True,
                        help="training workdir (its latest checkpoint is exported)")
    parser.add_argument("--export_dir", type=Path, default=None,
                        help="an existing export root (OUT with tfgc/<N>, tfgc_stock/<N>)")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per case and image")
    parser.add_argument("--seed", type=int, default=0, help="shuffles the call order")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temp snapshot/export")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.images < 1 or args.repeats < 1:
        parser.error("--warmup, --images and --repeats must be at least 1")

    wall_start = time.perf_counter()
    git_start = git_state()  # before anything imports or exports the code
    load_start = [round(x, 2) for x in os.getloadavg()]
    images = kodak_images(args.kodak, args.images)
    tmp = Path(tempfile.mkdtemp(prefix="serving_latency-"))
    try:
        result = _run(args, images, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["environment"]["git_start"] = git_start
    result["environment"]["git_end"] = git_state()
    result["environment"]["load_start"] = load_start
    result["environment"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_minutes"] = (time.perf_counter() - wall_start) / 60
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(str(args.out / "serving_latency.json"), json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    write_text_atomic(str(args.out / "serving_latency.md"), text)
    print(text)
    return result


def _run(args: argparse.Namespace, images: list[tuple[str, np.ndarray]],
         tmp: Path) -> dict[str, Any]:
    export_seconds = None
    if args.export_dir is None:
        checkpoint = snapshot_workdir(args.workdir, tmp / "workdir")
        export_root = tmp / "export"
        print(f"exporting {checkpoint.name} of {args.workdir} ...", flush=True)
        export_seconds = run_export(tmp / "workdir", export_root)
        source = f"from {checkpoint.name} with export.py ({export_seconds:.0f} s)"
    else:
        export_root = args.export_dir
        source = f"earlier, to {export_root}"
    full_dir = latest_version(export_root / "tfgc")
    stock_dir = export_root / "tfgc_stock" / full_dir.name
    step = json.loads((full_dir / "assets.extra" / "export.json").read_text())["step"]
    if args.export_dir is None:
        python_checkpoint = str(checkpoint)
    else:  # the export's own checkpoint, if training has not deleted it yet
        candidate = args.workdir / "checkpoints" / f"ckpt-{step}"
        python_checkpoint = str(candidate) if Path(str(candidate) + ".index").exists() else None

    full = tf.saved_model.load(str(full_dir))
    stock = tf.saved_model.load(str(stock_dir))
    tables = full.model_tables.numpy()
    tables = tables if tables.size else None
    fingerprint = bytes(full.fingerprint.numpy())
    python_workdir = tmp / "workdir" if args.export_dir is None else args.workdir
    codec = Codec.from_workdir(str(python_workdir), python_checkpoint, model_tables=tables)
    pixels = [p for _, p in images]
    feeds = [tf.constant(p[np.newaxis]) for p in pixels]
    seed = tf.constant(0, tf.int64)
    decode_kwargs = {"fingerprint": fingerprint, "model_tables": tables,
                     "num_centers": codec.num_centers, "num_channels": codec.num_channels}

    # Inputs for the decoding cases: each side decodes its own files (identical if the
    # checkpoints match, which the checks report).
    py_files = [codec.compress(p) for p in pixels]
    files = [full.signatures["compress"](image=f)["bitstring_bytes"].numpy()[0] for f in feeds]
    file_feeds = [tf.constant([d]) for d in files]
    symbols = [stock.signatures["analysis"](image=f)["symbols"] for f in feeds]
    decoded = [codec.decompress(d) for d in py_files]
    png_inputs = [tf.constant(d) for d in decoded]

    cases: dict[str, Callable[[int], Any]] = {
        "py_compress": lambda i: codec.compress(pixels[i]),
        "py_decompress": lambda i: codec.decompress(py_files[i]),
        "full_compress": lambda i: full.signatures["compress"](image=feeds[i])[
            "bitstring_bytes"].numpy(),
        "full_decompress": lambda i: {k: v.numpy() for k, v in full.signatures["decompress"](
            bitstring=file_feeds[i]).items()},
        "stock_analysis": lambda i: stock.signatures["analysis"](image=feeds[i])[
            "symbols"].numpy(),
        "stock_synthesis": lambda i: stock.signatures["synthesis"](
            symbols=symbols[i], noise_seed=seed)["image"].numpy(),
        "stock_decompress": lambda i: {k: v.numpy() for k, v in stock.signatures["decompress"](
            bitstring=file_feeds[i]).items()},
        "decode_tfc": lambda i: coding.decode_symbols(files[i], backend="tfc",
                                                      **decode_kwargs)[0].numpy(),
        "decode_stock": lambda i: coding.decode_symbols(files[i], backend="stock",
                                                        **decode_kwargs)[0].numpy(),
        "encode_png": lambda i: tf.io.encode_png(png_inputs[i]).numpy(),
    }

    print("warming up and checking ...", flush=True)
    outputs: dict[str, list[Any]] = {name: [] for name in cases}
    for _ in range(args.warmup):
        for name, fn in cases.items():
            outputs[name] = [fn(i) for i in range(len(images))]
    n = len(images)
    checks = {
        "same checkpoint and fingerprint": codec.fingerprint == fingerprint,
        "export compress bytes == Python compress bytes": all(
            bytes(files[i]) == py_files[i] for i in range(n)),
        "export/stock decompress pixels == Python decompress pixels": all(
            np.array_equal(outputs[k][i]["image"][0], decoded[i])
            for k in ("full_decompress", "stock_decompress") for i in range(n)),
        "stock synthesis(analysis) == decompress pixels": all(
            np.array_equal(outputs["stock_synthesis"][i][0],
                           outputs["full_decompress"][i]["image"][0]) for i in range(n)),
        "stock decoder symbols == tfc symbols == analysis symbols": all(
            np.array_equal(outputs["decode_stock"][i], outputs["decode_tfc"][i])
            and np.array_equal(outputs["decode_tfc"][i], symbols[i].numpy()[0])
            for i in range(n)),
        "png_bytes decode to the image": all(
            np.array_equal(tf.io.decode_png(outputs["full_decompress"][i]["png_bytes"][0]).numpy(),
                           outputs["full_decompress"][i]["image"][0]) for i in range(n)),
    }
    for name, ok in checks.items():
        print(f"check {'ok  ' if ok else 'FAIL'} {name}", flush=True)

    cpu_start, wall = time.process_time(), time.perf_counter()
    times = time_rounds(cases, n, args.repeats, args.seed)
    cores_used = (time.process_time() - cpu_start) / (time.perf_counter() - wall)

    file_bytes = [len(d) for d in files]
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "images": [name for name, _ in images],
        "image_hw": list(KODAK_HW),
        "latent_hwc": list(symbols[0].shape[1:]),
        "file_bytes": file_bytes,
        "mean_file_bytes": float(np.mean(file_bytes)),
        "mean_bpp": float(np.mean(file_bytes)) * 8 / (KODAK_HW[0] * KODAK_HW[1]),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "seed": args.seed,
        "model": {
            "workdir": str(args.workdir),
            "step": step,
            "python_checkpoint": python_checkpoint,
            "export_source": source,
            "export_seconds": export_seconds,
            "fingerprint": fingerprint.hex(),
            "num_centers": codec.num_centers,
            "num_channels": codec.num_channels,
            "model_tables": None if tables is None else list(tables.shape),
        },
        "checks": checks,
        "summary": summarize(times),
        "times_s": times,
        "environment": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "shared_machine": "background train.py run and other engineers' jobs",
            "cores_used_while_timing": cores_used,
            "tensorflow": tf.__version__,
            "tensorflow_compression": importlib.metadata.version("tensorflow-compression"),
            "python": platform.python_version(),
        },
    }


if __name__ == "__main__":
    main()
