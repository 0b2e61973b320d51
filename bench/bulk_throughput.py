"""Images per second: `python -m tfgc bulk compress` on Beam's DirectRunner (multi-process,
2 workers) against `python -m tfgc compress` on the same images, in one run.

Each measurement is a fresh process timed from start to exit, as a user would run it, so
start-up (importing TensorFlow and Beam, loading the model, starting workers) is included.
Every round also times both commands on ONE image: the difference between the two runs gives
the marginal rate (images per second once running), which is what matters for a large
collection. Rounds alternate which command goes first, so both see the same machine load.
The first round's outputs of the two commands are compared byte for byte.

    python bench/bulk_throughput.py --images /path/to/kodak --count 100 --repeats 3

`--images` is a folder of photos (Kodak's 24 PNGs, say); they are copied round-robin to make
`--count` inputs, so the same files feed both commands.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tfgc.data.images import list_images  # noqa: E402
from tfgc.utils.files import write_text_atomic  # noqa: E402

BEAM_OPTIONS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def commands(inputs: Path, out: Path, model: str | None) -> dict[str, list[str]]:
    model_flag = ["--model", model] if model else []
    return {
        "cli": [sys.executable, "-m", "tfgc", "compress", str(inputs), "-o", str(out / "cli"),
                *model_flag],
        "beam": [sys.executable, "-m", "tfgc", "bulk", "compress", "--input",
                 str(inputs / "*.png"), "--output", str(out / "beam"), *model_flag,
                 *BEAM_OPTIONS],
    }


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and the children it waited
    for: Beam's worker processes included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(source: str, count: int, folder: Path) -> list[str]:
    photos = list_images(source)
    if not photos:
        raise SystemExit(f"no images in {source}")
    folder.mkdir(parents=True)
    names = []
    for i in range(count):
        photo = photos[i % len(photos)]
        stem = os.path.splitext(os.path.basename(photo))[0]
        name = f"{stem}_{i // len(photos)}.png" if count > len(photos) else f"{stem}.png"
        shutil.copyfile(photo, folder / name)
        names.append(name)
    return [os.path.basename(p) for p in photos[:count]]


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*.tfgc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of photos (e.g. Kodak)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()

    started = time.perf_counter()
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bulk_bench_"))
    try:
        many, one = work / "many", work / "one"
        sources = prepare(args.images, args.count, many)
        one.mkdir()
        first = sorted(os.listdir(many))[0]
        shutil.copyfile(many / first, one / first)

        times: dict[str, list[float]] = {"cli": [], "beam": [], "cli_1": [], "beam_1": []}
        cpu: dict[str, list[float]] = {name: [] for name in times}
        identical = None
        for round_index in range(args.repeats):
            order = ["cli", "beam"] if round_index % 2 == 0 else ["beam", "cli"]
            out = work / f"round{round_index}"
            for name in order:
                for key, inputs, folder in ((name, many, out), (f"{name}_1", one, out / "one")):
                    wall, cpu_s = timed(commands(inputs, folder, args.model)[name])
                    times[key].append(wall)
                    cpu[key].append(cpu_s)
            if identical is None:  # the first round's outputs, compared file by file
                cli, beam = outputs(out / "cli"), outputs(out / "beam")
                identical = len(cli) == args.count and cli == beam
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in times.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    rows = {}
    for name in ("cli", "beam"):
        marginal_s = median[name] - median[f"{name}_1"]
        rows[name] = {
            "median_s": median[name], "runs_s": times[name],
            "images_per_s": args.count / median[name],
            "one_image_median_s": median[f"{name}_1"], "one_image_runs_s": times[f"{name}_1"],
            "marginal_images_per_s": (args.count - 1) / marginal_s if marginal_s > 0 else None,
            "cpu_s": median_cpu[name], "cpu_runs_s": cpu[name],
            "one_image_cpu_s": median_cpu[f"{name}_1"],
            "marginal_cpu_s_per_image": (median_cpu[name] - median_cpu[f"{name}_1"])
            / (args.count - 1),
        }
    ratio = rows["beam"]["images_per_s"] / rows["cli"]["images_per_s"]
    marginal = (rows["beam"]["marginal_images_per_s"] / rows["cli"]["marginal_images_per_s"]
                if rows["beam"]["marginal_images_per_s"] and rows["cli"]["marginal_images_per_s"]
                else None)
    import apache_beam

    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "apache_beam": apache_beam.__version__, "python": platform.python_version(),
        "images": args.count, "distinct_sources": sources[:30], "repeats": args.repeats,
        "model": args.model or "bundled", "beam_options": BEAM_OPTIONS,
        "outputs_byte_identical": identical, "rows": rows,
        "beam_over_cli_images_per_s": ratio, "beam_over_cli_marginal": marginal,
        "minutes": (time.perf_counter() - started) / 60,
    }
    out = Path(args.out)
    write_text_atomic(out / "bulk_throughput.json", json.dumps(results, indent=1))
    write_text_atomic(out / "bulk_throughput.md", markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    def fmt(value, digits=2):
        return "–" if value is None else f"{value:.{digits}f}"

    lines = [
        "# Bulk throughput: Beam DirectRunner (2 processes) vs the compress CLI",
        "",
        f"{r['date']}; {r['machine']}; Python {r['python']}, apache-beam {r['apache_beam']}; "
        f"{r['minutes']:.1f} min. Load average (1/5/15 min) at start {r['load_average_start']}, "
        f"at end {r['load_average_end']} (other jobs share this machine: compare the ratio).",
        "",
        f"{r['images']} images ({len(r['distinct_sources'])} distinct photos copied round-robin), "
        f"model: {r['model']}. Median of {r['repeats']} fresh-process runs each, alternating "
        f"which command goes first. Beam options: `{' '.join(r['beam_options'])}`. Outputs "
        f"byte-identical between the two: {'yes' if r['outputs_byte_identical'] else 'NO'}.",
        "",
        "| command | median s | images/s | 1 image: median s | marginal images/s "
        "| CPU s (1 image) | marginal CPU s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"cli": "`python -m tfgc compress`",
              "beam": "`python -m tfgc bulk compress` (DirectRunner, 2 processes)"}
    for name, row in r["rows"].items():
        lines.append(f"| {labels[name]} | {fmt(row['median_s'], 1)} | "
                     f"{fmt(row['images_per_s'])} | {fmt(row['one_image_median_s'], 1)} | "
                     f"{fmt(row['marginal_images_per_s'])} | {fmt(row['cpu_s'], 1)} "
                     f"({fmt(row['one_image_cpu_s'], 1)}) | "
                     f"{fmt(row['marginal_cpu_s_per_image'], 3)} |")
    lines += [
        "",
        f"**Beam / CLI images per second: {fmt(r['beam_over_cli_images_per_s'])}x** end to end "
        f"(start-up included); marginal rate (time for {r['images']} images minus time for 1, "
        f"per extra image): {fmt(r['beam_over_cli_marginal'])}x.",
        "",
        "CPU s: user + system seconds of the command and the child processes it waited for "
        "(Beam's workers); unlike wall time it hardly depends on what else the machine runs. "
        "On a machine shared with other jobs, two worker processes also get a larger share of "
        "the CPUs than one process does, which flatters Beam's wall-clock rate: the CPU "
        "columns show the work each way costs.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
