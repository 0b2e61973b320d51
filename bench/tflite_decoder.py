"""TFLite and the `.tfgc` decoder: what the built-in ops refuse, and the decoder that converts.

    python bench/tflite_decoder.py [--config configs/cpu_gc_c8.py] [--saved_model bundled]
                                   [--kodak KODAK_DIR] [--repeats 5]

Part 1 saves the stock module of a model of `--config`'s architecture (weights freshly
initialised: the ops do not depend on them) with two signatures, `decompress` (file -> images
and PNGs) and `decode_symbols` (the decode part alone), converts each with
`tf.lite.OpsSet.TFLITE_BUILTINS` only (tensor-list lowering off, so the converter lists every
op it cannot place at once), and probes which integer ops a rewrite can use: each elementwise
op alone, int32 and int64.

Part 2 converts the built-in-ops decoder (`export.py --tflite`, tfgc/export/tflite.py) of a
full export (default: the bundled model), lists the TFLite ops it uses and its size, and
decodes a Kodak-size file (768x512: kodim01 from `--kodak`, else a synthetic photo) and a
3 MP one (the same picture resized to 2048x1536) with it and with the stock SavedModel's
`decompress` (saved from the same weights, tables and fingerprints): CPU seconds per decode
(medians of `--repeats`, one process), symbols and pixels compared. Writes
bench/results/tflite_decoder.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def refused_ops(path: str, key: str) -> list[str]:
    """The ops (with their tensor types) the converter refuses in one signature (or the error
    that stopped it first); [] if it converts."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[key])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter._experimental_lower_tensor_list_ops = False
    try:
        converter.convert()
        return []
    except Exception as e:  # the converter raises ConverterError with the op list
        ops = sorted({line.strip().split(" : ")[0] for line in str(e).splitlines()
                      if re.match(r"\s+tf\.\w+\(", line)})
        # It can also stop before listing them (an MLIR pass failing): say why, never "yes".
        return ops or ["converter error: " + str(e).splitlines()[0].rsplit("): ", 1)[-1]]


def builtin_integer_ops() -> dict[str, dict[str, bool]]:
    """op -> dtype -> whether `op(a, b)` on [None] tensors converts with built-ins only."""
    import tensorflow as tf

    ops = {"right_shift": tf.bitwise.right_shift, "left_shift": tf.bitwise.left_shift,
           "bitwise_and": tf.bitwise.bitwise_and, "bitwise_or": tf.bitwise.bitwise_or,
           "bitwise_xor": tf.bitwise.bitwise_xor, "floordiv": tf.math.floordiv,
           "floormod": tf.math.floormod, "multiply": tf.math.multiply, "add": tf.math.add,
           "less": tf.math.less}
    table = {}
    for name, op in ops.items():
        table[name] = {}
        for dtype in (tf.int32, tf.int64):
            spec = tf.TensorSpec([None], dtype)
            function = tf.function(op, input_signature=[spec, spec])
            converter = tf.lite.TFLiteConverter.from_concrete_functions(
                [function.get_concrete_function()], function)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            try:
                converter.convert()
                table[name][dtype.name] = True
            except Exception:
                table[name][dtype.name] = False
    return table


def tflite_ops(model: bytes) -> list[str]:
    """The TFLite operator names a flatbuffer uses (built-in ones; a custom or Flex op would be
    listed by its custom code)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = flatbuffer_utils.convert_bytearray_to_object(bytearray(model)).operatorCodes
    return sorted({c.customCode.decode() if c.customCode else
                   names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in codes})


def test_images(kodak: str | None) -> list[tuple[str, object]]:
    """kodim01 (768x512) from `kodak`, else a synthetic photo of that size; and the same
    picture resized (Lanczos) to 2048x1536, 3 MP."""
    import numpy as np
    from PIL import Image

    if kodak:
        name, image = "kodim01", Image.open(os.path.join(kodak, "kodim01.png")).convert("RGB")
    else:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from conftest import photo

        name, image = "synthetic 768x512 photo", Image.fromarray(photo(512, 768))
    return [(name, np.asarray(image)),
            (f"{name} resized to 2048x1536", np.asarray(image.resize((2048, 1536),
                                                                      Image.LANCZOS)))]


def cpu_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    """Median process CPU time of `fn()` over `repeats` calls (after one warm-up call)."""
    import time

    import numpy as np

    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times)), times


def builtin_decoder(source: str, kodak: str | None, repeats: int) -> dict:
    """Converts the decoder of the full export `source` and times it against the stock
    SavedModel's decompress on a Kodak-size and a 3 MP file."""
    import time

    import numpy as np
    import tensorflow as tf

    from tfgc import coding
    from tfgc.codec import load_codec
    from tfgc.export.modules import make_module
    from tfgc.export.saved_model import load_full_export
    from tfgc.export.tflite import TFLiteDecoderModule, convert

    loaded = load_full_export(source)
    start = time.process_time()
    model = convert(TFLiteDecoderModule(loaded.networks, loaded.model_tables,
                                        loaded.fingerprints))
    convert_cpu = time.process_time() - start
    codec = load_codec(source)
    stock = make_module(loaded.networks, loaded.model_tables, stock=True,
                        fingerprints=loaded.fingerprints)
    interpreter = tf.lite.Interpreter(model_content=model)
    lite = {key: interpreter.get_signature_runner(key)
            for key in ("decompress_pixels", "decode_symbols")}
    limit = np.array(coding.format.DEFAULT_MAX_PIXELS, np.int64)
    files = []
    with tempfile.TemporaryDirectory() as path:
        tf.saved_model.save(stock, path, signatures={"decompress": stock.decompress})
        served = tf.saved_model.load(path)
        for name, image in test_images(kodak):
            data = codec.compress(image)
            file = np.frombuffer(data, np.uint8)
            bitstring = tf.constant([data])
            decoders = {
                "tflite decompress_pixels": lambda file=file: lite["decompress_pixels"](
                    data=file, max_pixels=limit),
                "stock SavedModel decompress": lambda bitstring=bitstring: served.signatures[
                    "decompress"](bitstring=bitstring),
                "tflite decode_symbols": lambda file=file: lite["decode_symbols"](
                    data=file, max_pixels=limit),
                "stock SavedModel decode (symbols)": lambda data=data: served.decode(
                    tf.constant(data), tf.constant(limit)),
            }
            results = {key: cpu_seconds(decode, repeats) for key, decode in decoders.items()}
            pixels = lite["decompress_pixels"](data=file, max_pixels=limit)
            reference = served.signatures["decompress"](bitstring=bitstring)["image"][0].numpy()
            symbols = lite["decode_symbols"](data=file, max_pixels=limit)["symbols"]
            want = served.decode(tf.constant(data), tf.constant(limit))["symbols"].numpy()
            difference = np.abs(pixels["image"].astype(int) - reference.astype(int))
            files.append({
                "image": name, "size": f"{image.shape[1]}x{image.shape[0]}",
                "file_bytes": len(data), "entropy_model": coding.parse_header(data).entropy_model,
                "error": int(pixels["error"]), "symbols_equal": bool(np.array_equal(symbols, want)),
                "pixels_max_difference": int(difference.max()),
                "pixels_fraction_different": float(np.mean(difference > 0)),
                "cpu_s": {key: {"median": median, "runs": runs}
                          for key, (median, runs) in results.items()}})
            print(name, {k: round(v[0], 3) for k, v in results.items()}, flush=True)
    return {"source": source, "tflite_bytes": len(model), "tflite_ops": tflite_ops(model),
            "convert_cpu_s": convert_cpu, "files": files, "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "cpu_gc_c8.py"))
    parser.add_argument("--saved_model", default="bundled",
                        help="full export whose decoder part 2 converts ('bundled' = tfgc's)")
    parser.add_argument("--kodak", help="folder with kodim01.png (default: a synthetic photo)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    import tensorflow as tf

    from tfgc.assets import BUNDLED_MODEL_DIR
    from tfgc.coding.format import DEFAULT_MAX_PIXELS
    from tfgc.config import from_json, to_json
    from tfgc.export.modules import make_module
    from tfgc.networks import CodecNetworks

    config = from_json(to_json(runpy.run_path(args.config)["get_config"]()))
    stock = make_module(CodecNetworks.from_config(config.model), None, stock=True)

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstring")])
    def decode_symbols(bitstring):
        return {"symbols": stock._decode(bitstring, "stock", DEFAULT_MAX_PIXELS)["symbols"]}

    refused = {}
    with tempfile.TemporaryDirectory() as path:
        tf.saved_model.save(stock, path, signatures={"decompress": stock.decompress,
                                                      "decode_symbols": decode_symbols})
        for key in ("decompress", "decode_symbols"):
            refused[key] = refused_ops(path, key)
            print(key, len(refused[key]), "refused op types", flush=True)
    probes = builtin_integer_ops()
    source = BUNDLED_MODEL_DIR if args.saved_model == "bundled" else args.saved_model
    decoder = builtin_decoder(source, args.kodak, args.repeats)
    decoder["source"] = args.saved_model
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "tflite_decoder.json"), "w") as f:
        json.dump({"config": os.path.relpath(args.config, ROOT), "tensorflow": tf.__version__,
                   "refused": refused, "integer_ops": probes, "builtin_decoder": decoder},
                  f, indent=2)
    names = {key: sorted({op.split("(")[0] for op in ops}) for key, ops in refused.items()}
    lines = [f"# TFLite built-in ops and the `.tfgc` decoder (TF {tf.__version__})", "",
             f"Stock SavedModel signatures (`{os.path.relpath(args.config, ROOT)}`) converted "
             "with `TFLITE_BUILTINS` only (tensor-list lowering off, so every refused op is "
             "listed; the JSON has each with its types):",
             "", "| signature | converts | refused ops |", "|---|---|---|"]
    for key, ops in names.items():
        lines.append(f"| `{key}` | {'yes' if not ops else 'no'} | "
                     + ", ".join(f"`{op.removeprefix('tf.')}`" for op in ops) + " |")
    lines += ["", "Integer ops alone, `op(a, b)` on 1-D tensors: converts with built-ins only?",
              "", "| op | int32 | int64 |", "|---|---|---|"]
    for name, result in probes.items():
        lines.append(f"| `{name}` | {'yes' if result['int32'] else 'no'} | "
                     f"{'yes' if result['int64'] else 'no'} |")
    d = decoder
    lines += ["", f"## The built-in-ops decoder (`export.py --saved_model={d['source']} "
              "--tflite=...`)", "",
              f"Converts with `TFLITE_BUILTINS` only: yes ({d['convert_cpu_s']:.1f} CPU-s), "
              f"{d['tflite_bytes']:,} bytes (signatures `decompress_pixels` and "
              f"`decode_symbols`). TFLite ops used ({len(d['tflite_ops'])}): "
              + ", ".join(f"`{op}`" for op in d["tflite_ops"]) + ".", "",
              f"CPU seconds per decode, median of {d['repeats']} (one process, after a warm-up "
              "call; a shared 2-core machine):", "",
              "| file | decoder | CPU-s (median) | runs |", "|---|---|---|---|"]
    for f in d["files"]:
        for key, value in f["cpu_s"].items():
            lines.append(f"| {f['image']} | {key} | {value['median']:.3f} | "
                         + ", ".join(f"{t:.3f}" for t in value["runs"]) + " |")
    lines.append("")
    for f in d["files"]:
        lines.append(f"- {f['image']}: {f['file_bytes']:,} bytes ({f['entropy_model']}); "
                     f"symbols equal to the stock SavedModel's: "
                     f"{'yes' if f['symbols_equal'] else 'NO'}; pixels: max difference "
                     f"{f['pixels_max_difference']}, "
                     f"{100 * f['pixels_fraction_different']:.4f}% of values differ.")
    with open(os.path.join(RESULTS, "tflite_decoder.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
