"""Symbols -> .tfgc -> symbols is bit-exact for every shape, entropy model and backend, and
the Python API and a user's tf.function produce the same bytes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfgc.coding import (
    api,
    decode_symbols,
    encode_symbols,
    fit_model_tables,
    header_size,
    parse_header,
)
from tfgc.coding.backends import get_backend
from tfgc.coding.synthetic import correlated_symbols
from tfgc.errors import ModelMismatchError

FP = bytes(range(16))
OTHER_FP = bytes(range(1, 17))


def _symbols(kind: str, shape: tuple[int, int, int], num_centers: int, seed: int = 0):
    h, w, c = shape
    if kind == "correlated":
        return correlated_symbols(h, w, c, num_centers, sigma=1.5, seed=seed)
    if kind == "uniform":
        return np.random.default_rng(seed).integers(0, num_centers, shape).astype(np.int32)
    if kind == "zeros":
        return np.zeros(shape, np.int32)
    if kind == "top":
        return np.full(shape, num_centers - 1, np.int32)
    if kind == "ramp":  # every symbol value everywhere, in a pattern
        y, x, ch = np.indices(shape)
        return ((y + 2 * x + 3 * ch) % num_centers).astype(np.int32)
    raise ValueError(kind)


def _round_trip(symbols, num_centers, backends=("tfc",), **kwargs):
    h, w, _ = symbols.shape
    image_shape = (h * 16 - 3 if h > 1 else 16, w * 16 - 15)
    data = encode_symbols(symbols, num_centers=num_centers, image_shape=image_shape,
                          fingerprint=FP, noise_seed=h * 1000 + w, **kwargs).numpy()
    header = parse_header(data)
    assert (header.latent_height, header.latent_width, header.channels) == symbols.shape
    assert (header.image_height, header.image_width) == image_shape
    assert (header.pad_bottom, header.pad_right) == (h * 16 - image_shape[0],
                                                     w * 16 - image_shape[1])
    assert header.noise_seed == h * 1000 + w
    assert header_size(data) == len(data) - header.payload_size
    # The stock-op range encoder writes the same file.
    stock = encode_symbols(symbols, num_centers=num_centers, image_shape=image_shape,
                           fingerprint=FP, noise_seed=h * 1000 + w, backend="stock",
                           **kwargs).numpy()
    assert stock == data
    for backend in backends:
        decoded, fields = decode_symbols(data, fingerprint=FP, backend=backend,
                                         model_tables=kwargs.get("model_tables"))
        np.testing.assert_array_equal(decoded.numpy(), symbols, err_msg=backend)
        assert int(fields["noise_seed"]) == header.noise_seed
        assert int(fields["image_height"]) == image_shape[0]
        assert int(fields["entropy_model"]) == header.structure | (header.model_tables << 7)
    return data, header


# (h, w, C, L, kind): C spans 1..16, L 2..8, h and w from 1 upward.
CASES = [
    (1, 1, 1, 2, "uniform"),
    (1, 1, 1, 2, "zeros"),
    (1, 7, 1, 2, "ramp"),
    (5, 1, 3, 5, "uniform"),
    (1, 6, 3, 5, "correlated"),
    (9, 11, 3, 5, "correlated"),
    (4, 4, 3, 5, "top"),
    (6, 5, 3, 5, "ramp"),
    (2, 3, 16, 8, "uniform"),
    (7, 6, 16, 8, "correlated"),
    (3, 3, 16, 8, "zeros"),
    (8, 2, 5, 3, "ramp"),
    (13, 17, 8, 5, "correlated"),
    (3, 9, 8, 5, "uniform"),
    (2, 2, 2, 4, "top"),
    (10, 3, 2, 4, "correlated"),
]


@pytest.mark.parametrize("h,w,c,num_centers,kind", CASES)
def test_round_trip_auto(h, w, c, num_centers, kind):
    symbols = _symbols(kind, (h, w, c), num_centers, seed=h + w)
    _round_trip(symbols, num_centers, backends=("tfc", "stock"))


@pytest.mark.parametrize("model", [0, 1, 2, 3, 4, "model"])
def test_round_trip_each_entropy_model(model):
    num_centers, channels = 5, 3
    tables = fit_model_tables(
        [correlated_symbols(12, 12, channels, num_centers, seed=s) for s in range(4)],
        num_centers, channels)
    kwargs = {"entropy_models": [model], "model_tables": tables if model == "model" else None}
    for shape, kind in [((1, 1, 3), "uniform"), ((4, 1, 3), "correlated"),
                        ((1, 9, 3), "correlated"), ((8, 10, 3), "correlated"),
                        ((5, 6, 3), "uniform"), ((3, 4, 3), "zeros")]:
        symbols = _symbols(kind, shape, num_centers, seed=sum(shape))
        _, header = _round_trip(symbols, num_centers, backends=("tfc", "stock"), **kwargs)
        expected = 4 if model == "model" else model
        assert header.structure == expected and header.model_tables == (model == "model")


def test_model_tables_are_required_and_checked():
    num_centers, channels = 5, 3
    tables = fit_model_tables([correlated_symbols(16, 16, channels, num_centers)], num_centers,
                              channels)
    symbols = correlated_symbols(6, 7, channels, num_centers, seed=9)
    data = encode_symbols(symbols, num_centers=num_centers, image_shape=(96, 112),
                          fingerprint=FP, model_tables=tables, entropy_models=["model"]).numpy()
    assert parse_header(data).tables_size == 0  # zero table bytes in the file
    with pytest.raises(ModelMismatchError, match="model_tables"):
        decode_symbols(data, fingerprint=FP)
    other = fit_model_tables([correlated_symbols(16, 16, channels, num_centers)], num_centers,
                             channels, structure=1)
    with pytest.raises(ModelMismatchError, match="another model"):
        decode_symbols(data, fingerprint=FP, model_tables=other)
    with pytest.raises(ModelMismatchError, match="made by model"):
        decode_symbols(data, fingerprint=OTHER_FP, model_tables=tables)
    with pytest.raises(ModelMismatchError, match="channels"):
        decode_symbols(data, fingerprint=FP, model_tables=tables, num_channels=4)
    # The graph alone (a SavedModel) reaches the same verdicts.
    graph = api._decode_function(get_backend("stock"), None, None, None)
    no_limit = tf.constant(api.fmt.NO_PIXEL_LIMIT, tf.int64)
    for wrong in (np.zeros((0, 0), np.int32), other):
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            graph(tf.constant(data), tf.constant(FP), tf.constant(wrong, tf.int32), no_limit)
        assert isinstance(api.error_from_graph(info.value), ModelMismatchError)
    decoded, _ = graph(tf.constant(data), tf.constant(FP), tf.constant(tables), no_limit)
    np.testing.assert_array_equal(decoded.numpy(), symbols)


def test_auto_prefers_model_tables_when_they_fit_better():
    num_centers, channels = 5, 4
    train = [correlated_symbols(24, 24, channels, num_centers, seed=s) for s in range(6)]
    tables = fit_model_tables(train, num_centers, channels)
    symbols = correlated_symbols(6, 8, channels, num_centers, seed=99)
    data = encode_symbols(symbols, num_centers=num_centers, image_shape=(96, 128),
                          fingerprint=FP, model_tables=tables).numpy()
    assert parse_header(data).model_tables
    decoded, _ = decode_symbols(data, fingerprint=FP, model_tables=tables, backend="stock")
    np.testing.assert_array_equal(decoded.numpy(), symbols)


def test_tf_function_path_gives_identical_bytes_and_decodes():
    """What the exported SavedModel signatures run: unknown h, w inside a tf.function."""
    num_centers, channels = 5, 4

    @tf.function(input_signature=[tf.TensorSpec([None, None, channels], tf.int32),
                                  tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.int64)])
    def compress(symbols, image_shape, seed):
        return encode_symbols(symbols, num_centers=num_centers, image_shape=image_shape,
                              fingerprint=FP, noise_seed=seed)

    @tf.function(input_signature=[tf.TensorSpec([None, None, channels], tf.int32),
                                  tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.int64)])
    def compress_stock(symbols, image_shape, seed):
        return encode_symbols(symbols, num_centers=num_centers, image_shape=image_shape,
                              fingerprint=FP, noise_seed=seed, backend="stock")

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def decompress(data):
        symbols, header = decode_symbols(data, fingerprint=FP, backend="stock",
                                         num_centers=num_centers, num_channels=channels)
        return symbols, header["noise_seed"]

    graph = compress_stock.get_concrete_function().graph.as_graph_def()
    op_types = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def}
    assert "While" in op_types or "StatelessWhile" in op_types  # the library was searched
    assert op_types.isdisjoint({"CreateRangeEncoder", "EntropyEncodeIndex",
                                "EntropyEncodeFinalize"}), op_types
    for shape in [(1, 1), (3, 5), (12, 9)]:
        symbols = correlated_symbols(*shape, channels, num_centers, seed=shape[0])
        image_shape = (shape[0] * 16, shape[1] * 16 - 7)
        graph_bytes = compress(symbols, image_shape, 2**32 - 1).numpy()
        eager_bytes = encode_symbols(symbols, num_centers=num_centers, image_shape=image_shape,
                                     fingerprint=FP, noise_seed=2**32 - 1).numpy()
        assert graph_bytes == eager_bytes
        assert compress_stock(symbols, image_shape, 2**32 - 1).numpy() == graph_bytes
        decoded, seed = decompress(graph_bytes)
        assert decoded.shape[2] == channels
        np.testing.assert_array_equal(decoded.numpy(), symbols)
        assert int(seed) == 2**32 - 1


def test_encode_rejects_bad_arguments():
    symbols = np.zeros((2, 3, 4), np.int32)
    with pytest.raises(ValueError, match=r"0\.\.4"):
        encode_symbols(symbols + 5, num_centers=5, image_shape=(32, 48), fingerprint=FP)
    with pytest.raises(ValueError, match="stride"):
        encode_symbols(symbols, num_centers=5, image_shape=(32, 48), padding=(1, 0),
                       fingerprint=FP)
    with pytest.raises(ValueError, match="16 bytes"):
        encode_symbols(symbols, num_centers=5, image_shape=(32, 48), fingerprint=b"short")
    with pytest.raises(ValueError, match="uint32"):
        encode_symbols(symbols, num_centers=5, image_shape=(32, 48), fingerprint=FP,
                       noise_seed=-1)
    with pytest.raises(ValueError, match="model_tables"):
        encode_symbols(symbols, num_centers=5, image_shape=(32, 48), fingerprint=FP,
                       entropy_models=["model"])
    with pytest.raises(ValueError, match="backend"):
        encode_symbols(symbols, num_centers=5, image_shape=(32, 48), fingerprint=FP,
                       backend="tfc_stock")
