"""Which ops keep the range decoder out of TFLite's built-in ops (a phone decoding a file).

    python bench/tflite_decoder.py [--config configs/cpu_gc_c8.py]

Saves the stock module of a model of this architecture (weights freshly initialised: the ops
do not depend on them) with two signatures, `decompress` (file -> images and PNGs) and
`decode_symbols` (the decode part alone: file -> symbols), converts each with
`tf.lite.OpsSet.TFLITE_BUILTINS` only (tensor-list lowering off, so the converter lists every
op it cannot place at once), and probes which integer ops a rewrite could use: each
elementwise op alone, int32 and int64. Writes bench/results/tflite_decoder.{json,md}.
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
    """The ops (with their tensor types) the converter refuses in one signature; [] if it
    converts."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[key])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter._experimental_lower_tensor_list_ops = False
    try:
        converter.convert()
        return []
    except Exception as e:  # the converter raises ConverterError with the op list
        return sorted({line.strip().split(" : ")[0] for line in str(e).splitlines()
                       if re.match(r"\s+tf\.\w+\(", line)})


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "cpu_gc_c8.py"))
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    import tensorflow as tf

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
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "tflite_decoder.json"), "w") as f:
        json.dump({"config": os.path.relpath(args.config, ROOT), "tensorflow": tf.__version__,
                   "refused": refused, "integer_ops": probes}, f, indent=2)
    names = {key: sorted({op.split("(")[0] for op in ops}) for key, ops in refused.items()}
    lines = [f"# TFLite built-in ops and the range decoder (TF {tf.__version__}, "
             f"`{os.path.relpath(args.config, ROOT)}`)", "",
             "Stock SavedModel signatures converted with `TFLITE_BUILTINS` only (tensor-list "
             "lowering off, so every refused op is listed; the JSON has each with its types):",
             "", "| signature | converts | refused ops |", "|---|---|---|"]
    for key, ops in names.items():
        lines.append(f"| `{key}` | {'yes' if not ops else 'no'} | "
                     + ", ".join(f"`{op.removeprefix('tf.')}`" for op in ops) + " |")
    lines += ["", "Integer ops alone, `op(a, b)` on 1-D tensors: converts with built-ins only?",
              "", "| op | int32 | int64 |", "|---|---|---|"]
    for name, result in probes.items():
        lines.append(f"| `{name}` | {'yes' if result['int32'] else 'no'} | "
                     f"{'yes' if result['int64'] else 'no'} |")
    with open(os.path.join(RESULTS, "tflite_decoder.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
