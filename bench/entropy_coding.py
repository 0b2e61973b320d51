"""Benchmark of the entropy-coding stage on the latents of real images (e.g. Kodak).

For every image: bits per pixel of
  (a) the dim * log2(L) bound the paper reports,
  (b) the empirical per-channel entropy (static tables, no table cost),
  (c) our .tfgc file with static per-channel tables only,
  (d) our .tfgc file with context modelling ('auto': the smallest of all entropy models,
      including the model's own tables when it has them),
  (e) bzip2 and (f) lzma of the symbols packed at ceil(log2 L) bits each,
plus header bytes (c, d) and the median encode / decode times of the coding stage alone.

Sources of latents (pick one):
  --model PATH        a trained model (workdir or export, anything tfgc.codec.load_codec takes);
                      latents are read back from its .tfgc files of --images
  --symbols FILE.npz  int arrays [h, w, C] keyed by image name (optionally NAME__shape = [H, W]
                      for the true image size; default 16h x 16w); needs --num-centers
  --synthetic         correlated synthetic latents at Kodak's latent size (smoke test)

    python bench/entropy_coding.py --model runs/gc_c8 --images KODAK_DIR \
        --out bench/results/entropy_coding
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgc.coding import decode_symbols, encode_symbols, parse_header
from tfgc.coding.analysis import bound_bits, empirical_bits
from tfgc.utils.files import write_text_atomic

BENCH_FP = b"bench-entropy-cd"  # 16 bytes; only for --symbols / --synthetic sources


class Latent:
    def __init__(self, name: str, symbols: np.ndarray, image_hw: tuple[int, int]):
        self.name, self.symbols, self.image_hw = name, np.asarray(symbols, np.int32), image_hw


def _images(folder: str) -> list[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg")))
    if not names:
        raise SystemExit(f"no images in {folder}")
    return [os.path.join(folder, n) for n in names]


def latents_from_model(path: str, folder: str, limit: int | None):
    """Latents of each image as the model codes them, read back from its own files."""
    from tfgc.codec import load_codec
    from tfgc.data.images import load_image

    codec = load_codec(path)

    def generate() -> Iterator[Latent]:
        for image in _images(folder)[:limit]:
            pixels = load_image(image).pixels
            data = codec.compress(pixels)
            symbols, _ = decode_symbols(data, fingerprint=codec.fingerprint,
                                        model_tables=codec.model_tables)
            yield Latent(os.path.basename(image), symbols.numpy(), pixels.shape[:2])

    return generate(), codec.num_centers, codec.fingerprint, codec.model_tables, codec.name


def latents_from_npz(path: str, limit: int | None) -> Iterator[Latent]:
    arrays = np.load(path)
    names = sorted(k for k in arrays.files if not k.endswith("__shape"))[:limit]
    for name in names:
        symbols = arrays[name]
        shape_key = f"{name}__shape"
        hw = (tuple(int(v) for v in arrays[shape_key]) if shape_key in arrays.files
              else (symbols.shape[0] * 16, symbols.shape[1] * 16))
        yield Latent(name, symbols, hw)


def latents_synthetic(count: int, channels: int, num_centers: int) -> Iterator[Latent]:
    from tfgc.coding.synthetic import correlated_symbols

    for i in range(count):
        h, w = (32, 48) if i % 3 else (48, 32)  # Kodak: 768x512 and 512x768
        yield Latent(f"synthetic{i:02d}", correlated_symbols(h, w, channels, num_centers,
                                                             sigma=1.0 + 0.1 * i, seed=i),
                     (h * 16, w * 16))


def packed_symbols(symbols: np.ndarray, num_centers: int) -> bytes:
    """Symbols at ceil(log2 L) bits each, row-major, MSB first: what bzip2/lzma get."""
    width = max(1, math.ceil(math.log2(num_centers)))
    bits = (symbols.reshape(-1, 1) >> np.arange(width - 1, -1, -1)) & 1
    return np.packbits(bits.astype(np.uint8).ravel()).tobytes()


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(latent: Latent, num_centers: int, fingerprint: bytes, tables, repeats: int) -> dict:
    symbols = latent.symbols
    pixels = latent.image_hw[0] * latent.image_hw[1]
    h, w, _ = symbols.shape
    kwargs = {"num_centers": num_centers, "image_shape": latent.image_hw,
              "fingerprint": fingerprint, "padding": (h * 16 - latent.image_hw[0],
                                                      w * 16 - latent.image_hw[1])}
    static = encode_symbols(symbols, entropy_models=[0], **kwargs).numpy()
    auto = encode_symbols(symbols, model_tables=tables, **kwargs).numpy()
    auto_header = parse_header(auto)
    decoded, _ = decode_symbols(auto, fingerprint=fingerprint, model_tables=tables)
    if not np.array_equal(decoded.numpy(), symbols):
        raise SystemExit(f"{latent.name}: round trip failed")
    packed = packed_symbols(symbols, num_centers)
    bytes_per_symbol = symbols.astype(np.uint8).tobytes()

    def bpp(nbytes: float) -> float:
        return 8 * nbytes / pixels

    return {
        "image": latent.name,
        "image_hw": list(latent.image_hw),
        "latent_shape": list(symbols.shape),
        "bpp_bound": bound_bits(symbols, num_centers) / pixels,
        "bpp_entropy_per_channel": empirical_bits(symbols, num_centers, 0) / pixels,
        "bpp_static": bpp(len(static)),
        "bpp_context": bpp(len(auto)),
        "bpp_bzip2": bpp(len(bz2.compress(packed, 9))),
        "bpp_lzma": bpp(len(lzma.compress(packed, preset=9 | lzma.PRESET_EXTREME))),
        "bpp_bzip2_byte_per_symbol": bpp(len(bz2.compress(bytes_per_symbol, 9))),
        "bpp_lzma_byte_per_symbol": bpp(len(lzma.compress(bytes_per_symbol,
                                                          preset=9 | lzma.PRESET_EXTREME))),
        "bytes_static": len(static),
        "bytes_context": len(auto),
        "header_bytes_static": parse_header(static).header_size,
        "header_bytes_context": auto_header.header_size,
        "context_model": auto_header.entropy_model,
        "encode_ms_context": 1e3 * _median_seconds(
            lambda: encode_symbols(symbols, model_tables=tables, **kwargs), repeats),
        "decode_ms_tfc": 1e3 * _median_seconds(
            lambda: decode_symbols(auto, fingerprint=fingerprint, model_tables=tables), repeats),
        "decode_ms_stock": 1e3 * _median_seconds(
            lambda: decode_symbols(auto, fingerprint=fingerprint, model_tables=tables,
                                   backend="stock"), repeats),
    }


COLUMNS = [
    ("image", "image", "{}"), ("bound", "bpp_bound", "{:.4f}"),
    ("entropy", "bpp_entropy_per_channel", "{:.4f}"), ("static", "bpp_static", "{:.4f}"),
    ("context", "bpp_context", "{:.4f}"), ("bzip2", "bpp_bzip2", "{:.4f}"),
    ("lzma", "bpp_lzma", "{:.4f}"), ("hdr static B", "header_bytes_static", "{:.0f}"),
    ("hdr context B", "header_bytes_context", "{:.0f}"), ("model", "context_model", "{}"),
    ("enc ms", "encode_ms_context", "{:.1f}"), ("dec ms tfc", "decode_ms_tfc", "{:.1f}"),
    ("dec ms stock", "decode_ms_stock", "{:.1f}"),
]


def summarize(rows: list[dict]) -> dict:
    numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
    summary = {k: statistics.mean(r[k] for r in rows) for k in numeric}
    for k in ("encode_ms_context", "decode_ms_tfc", "decode_ms_stock"):
        summary[k] = statistics.median(r[k] for r in rows)
    summary["context_vs_static"] = 1 - summary["bpp_context"] / summary["bpp_static"]
    summary["static_vs_bound"] = 1 - summary["bpp_static"] / summary["bpp_bound"]
    summary["context_vs_bound"] = 1 - summary["bpp_context"] / summary["bpp_bound"]
    return summary


def markdown(rows: list[dict], summary: dict, source: str) -> str:
    lines = [f"# Entropy coding benchmark ({source})", "",
             "bpp = bits per image pixel; static/context are whole .tfgc files (header, tables, "
             "CRC included); bzip2/lzma compress the symbols packed at ceil(log2 L) bits. "
             "Times: median over repeats, coding stage only (per image; summary: median).", "",
             "| " + " | ".join(c[0] for c in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(f.format(row[k]) for _, k, f in COLUMNS) + " |")
    mean = {**summary, "image": "**mean**", "context_model": ""}
    lines.append("| " + " | ".join(f.format(mean[k]) for _, k, f in COLUMNS) + " |")
    lines += ["", f"Context modelling: {summary['context_vs_static']:.1%} fewer bits than static "
              f"per-channel tables; static is {summary['static_vs_bound']:.1%} and context "
              f"{summary['context_vs_bound']:.1%} below the dim*log2(L) bound (paper: 8.8%)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="trained model for tfgc.codec.load_codec")
    source.add_argument("--symbols", help="npz of int symbols [h, w, C] per image")
    source.add_argument("--synthetic", action="store_true", help="synthetic latents (smoke)")
    parser.add_argument("--images", help="image folder for --model (e.g. the Kodak images)")
    parser.add_argument("--num-centers", type=int, default=5, help="L for --symbols/--synthetic")
    parser.add_argument("--channels", type=int, default=8, help="C for --synthetic")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats per image")
    parser.add_argument("--out", default="bench/results/entropy_coding",
                        help="output prefix: writes PREFIX.json and PREFIX.md")
    args = parser.parse_args(argv)
    if args.model and not args.images:
        parser.error("--model needs --images FOLDER (e.g. the 24 Kodak images)")

    tables = None
    fingerprint = BENCH_FP
    num_centers = args.num_centers
    if args.model:
        latents, num_centers, fingerprint, tables, name = latents_from_model(
            args.model, args.images, args.limit)
        source = f"model {name} on {args.images}"
    elif args.symbols:
        latents, source = latents_from_npz(args.symbols, args.limit), f"symbols {args.symbols}"
    else:
        latents = latents_synthetic(args.limit or 24, args.channels, num_centers)
        source = "synthetic correlated latents (no model)"

    rows = []
    for latent in latents:
        row = measure(latent, num_centers, fingerprint, tables, args.repeats)
        rows.append(row)
        print(f"{row['image']}: bound {row['bpp_bound']:.4f} static {row['bpp_static']:.4f} "
              f"context {row['bpp_context']:.4f} ({row['context_model']}) "
              f"lzma {row['bpp_lzma']:.4f} bpp", flush=True)
    if not rows:
        raise SystemExit("no latents")
    summary = summarize(rows)
    result = {"source": source, "num_centers": num_centers, "summary": summary, "images": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_text_atomic(args.out + ".json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(args.out + ".md", markdown(rows, summary, source))
    print(markdown(rows, summary, source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
