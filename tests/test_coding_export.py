"""The coding stage inside SavedModels: the full export writes the same bytes as the Python
API, and the stock export writes and decodes them with stock TF ops only (checked op by op,
and by loading it in a fresh process where tensorflow_compression cannot be imported; the
same process also encodes and decodes through `tfgc.coding` with the stock backends)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfgc.coding import decode_symbols, encode_symbols, fit_model_tables
from tfgc.coding.synthetic import correlated_symbols

FP = bytes(range(16))
L, C = 5, 4


class _Full(tf.Module):
    def __init__(self, tables):
        super().__init__()
        self.tables = tables

    @tf.function(input_signature=[tf.TensorSpec([None, None, C], tf.int32),
                                  tf.TensorSpec([2], tf.int32)])
    def compress(self, symbols, image_shape):
        return encode_symbols(symbols, num_centers=L, image_shape=image_shape, fingerprint=FP,
                              model_tables=self.tables)


class _Stock(tf.Module):
    def __init__(self, tables):
        super().__init__()
        self.tables = tables

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def decompress(self, data):
        symbols, header = decode_symbols(data, fingerprint=FP, model_tables=self.tables,
                                         backend="stock", num_centers=L, num_channels=C)
        return {"symbols": symbols, "noise_seed": header["noise_seed"]}

    @tf.function(input_signature=[tf.TensorSpec([None, None, C], tf.int32),
                                  tf.TensorSpec([2], tf.int32)])
    def compress(self, symbols, image_shape):
        return encode_symbols(symbols, num_centers=L, image_shape=image_shape, fingerprint=FP,
                              model_tables=self.tables, backend="stock")


def _op_types(path: str) -> set[str]:
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


def test_saved_models_full_and_stock(tmp_path):
    train = [correlated_symbols(16, 16, C, L, seed=s) for s in range(3)]
    tables = fit_model_tables(train, L, C)
    full_dir, stock_dir = str(tmp_path / "full"), str(tmp_path / "stock")
    tf.saved_model.save(_Full(tables), full_dir)
    tf.saved_model.save(_Stock(tables), stock_dir)

    stock_ops = _op_types(stock_dir)
    assert "CreateRangeDecoder" not in stock_ops and "EntropyDecodeIndex" not in stock_ops
    assert "CreateRangeEncoder" not in stock_ops and "EntropyEncodeIndex" not in stock_ops
    custom = sorted(op for op in stock_ops if not hasattr(tf.raw_ops, op))
    assert not custom, f"non-stock ops in the stock export: {custom}"
    assert "CreateRangeEncoder" in _op_types(full_dir)

    full = tf.saved_model.load(full_dir)
    cases = []
    for seed, (h, w) in enumerate([(1, 1), (5, 9), (11, 7)]):
        symbols = correlated_symbols(h, w, C, L, seed=seed)
        shape = np.array([h * 16 - 1, w * 16], np.int32)
        data = full.compress(symbols, shape).numpy()
        python = encode_symbols(symbols, num_centers=L, image_shape=shape, fingerprint=FP,
                                model_tables=tables).numpy()
        assert data == python
        cases.append((symbols, data))

    # A fresh process that cannot import tensorflow_compression, like a stock TF server.
    for k, (symbols, data) in enumerate(cases):
        (tmp_path / f"{k}.tfgc").write_bytes(data)  # not npz: numpy bytes arrays drop NULs
        np.save(tmp_path / f"{k}.npy", symbols)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow_compression"] = None  # any import of it now fails
        import numpy as np, tensorflow as tf
        model = tf.saved_model.load({stock_dir!r})
        out = []
        for k in range({len(cases)}):
            with open({str(tmp_path)!r} + f"/{{k}}.tfgc", "rb") as f:
                out.append(model.decompress(tf.constant(f.read()))["symbols"].numpy())
        np.savez({str(tmp_path / "out.npz")!r}, *out)
        for k in range({len(cases)}):  # the stock export's compress writes the same bytes
            symbols = np.load({str(tmp_path)!r} + f"/{{k}}.npy")
            shape = np.array([symbols.shape[0] * 16 - 1, symbols.shape[1] * 16], np.int32)
            with open({str(tmp_path)!r} + f"/{{k}}.tfgc", "rb") as f:
                assert model.compress(symbols, shape).numpy() == f.read(), k
        # The Python API's stock path, too, never needs tensorflow_compression.
        import tfgc.coding
        tables = np.load({str(tmp_path / "tables.npy")!r})
        for k in range({len(cases)}):
            with open({str(tmp_path)!r} + f"/{{k}}.tfgc", "rb") as f:
                symbols, _ = tfgc.coding.decode_symbols(
                    f.read(), fingerprint={FP!r}, model_tables=tables, backend="stock")
            assert np.array_equal(symbols.numpy(), out[k])
            shape = np.array([symbols.shape[0] * 16 - 1, symbols.shape[1] * 16], np.int32)
            with open({str(tmp_path)!r} + f"/{{k}}.tfgc", "rb") as f:
                assert tfgc.coding.encode_symbols(
                    symbols, num_centers={L}, image_shape=shape, fingerprint={FP!r},
                    model_tables=tables, backend="stock").numpy() == f.read(), k
    """)
    np.save(tmp_path / "tables.npy", tables)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": root}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    for k, (symbols, _) in enumerate(cases):
        np.testing.assert_array_equal(out[f"arr_{k}"], symbols)
