"""Decode time of the stock-op range decoder vs tfc's custom ops on the same bitstreams.

The workload is a 128x256x8 latent with one stream per row (n=128 streams of 2048 symbols,
channel c coded with table c), the layout the serving export decodes. Both decoders run as
traced `tf.function`s with None-shaped signatures, as in an export; the first call (tracing)
is excluded and medians over repeats are reported, of wall time and of process CPU time.
The stock symbols are checked against the encoded ones, so a fast but wrong decoder cannot
report a time.

    python bench/stock_decoder_speed.py --out stock_decoder_speed.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tensorflow_compression as tfc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tfgc.coding.stock_range_decoder import decode_index_all


def _tables(rng: np.random.Generator, channels: int, symbols: int, precision: int):
    """One integer CDF per channel with every symbol encodable (sharp-ish, like latents)."""
    rows = []
    for _ in range(channels):
        weights = rng.dirichlet(np.full(symbols, 0.7))
        pmf = np.maximum(1, np.floor(weights * (2**precision - symbols))).astype(np.int64)
        pmf[np.argmax(pmf)] += 2**precision - pmf.sum()
        rows.append([precision, 0, *np.cumsum(pmf).tolist()])
    return np.array(rows, np.int32)


def _time_calls(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds per call. CPU time (all threads) is the steadier number
    on a shared machine: other jobs inflate wall time but not our CPU time."""
    fn()  # trace and warm up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--symbols", type=int, default=5, help="alphabet size per table")
    parser.add_argument("--precision", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (else stdout only)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    lookup = _tables(rng, args.channels, args.symbols, args.precision)
    n, m = args.height, args.width * args.channels
    index = np.tile(np.arange(args.channels, dtype=np.int32), (n, args.width))
    probs = [np.diff(row[1:]) / 2**args.precision for row in lookup]
    values = np.stack([
        np.stack([rng.choice(args.symbols, size=args.width, p=p) for p in probs], axis=1)
        .reshape(-1) for _ in range(n)]).astype(np.int32)

    handle = tfc.create_range_encoder([n], lookup)
    handle = tfc.entropy_encode_index(handle, index, values)
    strings = tfc.entropy_encode_finalize(handle)

    signature = [
        tf.TensorSpec([None], tf.string),
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None], tf.int32),
    ]

    @tf.function(input_signature=signature)
    def tfc_decode(strings, lookup, index):
        handle = tfc.create_range_decoder(strings, lookup)
        handle, symbols = tfc.entropy_decode_index(handle, index, tf.shape(index)[1:], tf.int32)
        return symbols, tfc.entropy_decode_finalize(handle)

    stock_decode = tf.function(decode_index_all, input_signature=signature)

    stock_symbols = stock_decode(strings, lookup, index).numpy()
    tfc_symbols = tfc_decode(strings, lookup, index)[0].numpy()
    if not (np.array_equal(stock_symbols, values) and np.array_equal(tfc_symbols, values)):
        raise SystemExit("decoded symbols differ from the encoded ones; not timing")

    stock_wall, stock_cpu = _time_calls(
        lambda: stock_decode(strings, lookup, index)[0, 0].numpy(), args.repeats)
    tfc_wall, tfc_cpu = _time_calls(
        lambda: tfc_decode(strings, lookup, index)[0][0, 0].numpy(), args.repeats)
    median = statistics.median

    result = {
        "workload": {
            "latent_hwc": [args.height, args.width, args.channels],
            "streams": n,
            "symbols_per_stream": m,
            "tables": args.channels,
            "alphabet": args.symbols,
            "precision": args.precision,
            "payload_bytes": int(sum(len(s) for s in strings.numpy())),
        },
        "repeats": args.repeats,
        "stock_median_s": median(stock_wall),
        "tfc_median_s": median(tfc_wall),
        "stock_over_tfc": median(stock_wall) / median(tfc_wall),
        "stock_cpu_median_s": median(stock_cpu),
        "tfc_cpu_median_s": median(tfc_cpu),
        "stock_over_tfc_cpu": median(stock_cpu) / median(tfc_cpu),
        "stock_times_s": stock_wall,
        "tfc_times_s": tfc_wall,
        "environment": {
            "tensorflow": tf.__version__,
            "tensorflow_compression": importlib.metadata.version("tensorflow-compression"),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
