"""The prior + G SavedModel (`export.py --prior`) on a real GC model: same pixels as the API?
What does a decode cost?

    python bench/prior_decoder.py --prior PRIOR_DIR [--model MODEL_DIR] [--repeats 3]

Runs `export.py --saved_model=MODEL|bundled --prior=PRIOR` in a subprocess (its CPU seconds and
the SavedModel's size), then decodes version-2 files of random z (768x512 and 512x768, Kodak's
sizes) with the Python API (`decompress_reversal`) and with the SavedModel's `decompress`,
after one warm-up decode each: pixels compared, CPU seconds per decode (medians of
`--repeats`, one process). Writes bench/results/prior_decoder.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prior", required=True)
    parser.add_argument("--model", default=None, help="GC model (default: the bundled one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from tfgc.reversal import decompress_reversal
    from tfgc.reversal.fileformat import LatentCode, encode_file
    from tfgc.reversal.generators import load_prior_generator
    from tfgc.utils.files import write_text_atomic

    with tempfile.TemporaryDirectory() as tmp:
        before = cpu_seconds(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, os.path.join(ROOT, "export.py"), f"--prior={args.prior}",
             f"--saved_model={args.model or 'bundled'}", f"--export_dir={tmp}"],
            capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            sys.exit(done.stderr)
        export_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - before
        saved = os.path.join(tmp, "tfgc_prior", "1")
        size = folder_bytes(saved)
        decompress = tf.saved_model.load(saved).signatures["decompress"]

        tiled = load_prior_generator(args.prior, args.model)
        rng = np.random.default_rng(0)
        rows = {}
        for shape in ((512, 768), (768, 512)):
            code = LatentCode(rng.integers(0, 21, tiled.latent_size(shape)).astype(np.int32),
                              0.1, -10, 21)
            data = encode_file(code, fingerprint=tiled.fingerprint, image_shape=shape,
                               prior_range=tiled.prior_range,
                               model_fingerprint=tiled.model_fingerprint)
            runs = {"api": lambda d=data: decompress_reversal(d, tiled),
                    "saved_model": lambda d=data: decompress(
                        bitstring=tf.constant([d]))["image"].numpy()[0]}
            pixels, cost = {}, {}
            for name, run in runs.items():
                pixels[name] = run()  # warm-up (tracing)
                times = []
                for _ in range(args.repeats):
                    start = cpu_seconds()
                    run()
                    times.append(cpu_seconds() - start)
                cost[name] = statistics.median(times)
            difference = np.abs(pixels["api"].astype(int) - pixels["saved_model"]).max()
            rows[f"{shape[1]}x{shape[0]}"] = {
                "file_bytes": len(data), "max_pixel_difference": int(difference),
                "api_cpu_s": round(cost["api"], 3),
                "saved_model_cpu_s": round(cost["saved_model"], 3)}

    record = {"prior": os.path.basename(os.path.normpath(args.prior)),
              "model": args.model or "bundled", "model_fingerprint": tiled.model_fingerprint.hex(),
              "prior_fingerprint": tiled.fingerprint.hex(),
              "export_cpu_s": round(export_cpu, 1), "saved_model_bytes": size,
              "repeats": args.repeats, "load_average": [round(v, 1) for v in os.getloadavg()],
              "decodes": rows}
    lines = ["# The prior + G SavedModel (`export.py --prior`) against the Python API", "",
             f"Prior `{record['prior']}` ({record['prior_fingerprint'][:8]}) + G of model "
             f"{record['model']} ({record['model_fingerprint'][:8]}); export.py --prior took "
             f"{record['export_cpu_s']} CPU-s, the SavedModel is {size / 1e6:.1f} MB. Files of "
             f"random z; CPU seconds per decode, medians of {args.repeats} after a warm-up, one "
             f"process; load average {record['load_average']}.", "",
             "| image | file bytes | API CPU-s | SavedModel CPU-s | max pixel difference |",
             "|---|---|---|---|---|"]
    lines += [f"| {k} | {r['file_bytes']} | {r['api_cpu_s']} | {r['saved_model_cpu_s']} | "
              f"{r['max_pixel_difference']} |" for k, r in rows.items()]
    write_text_atomic(os.path.join(args.out, "prior_decoder.json"),
                      json.dumps(record, indent=1))
    write_text_atomic(os.path.join(args.out, "prior_decoder.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
