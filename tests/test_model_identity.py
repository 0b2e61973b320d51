"""Model identity: files without model tables carry the decoder fingerprint D (any model with
the same decoder weights reads them); files coded with the model's tables carry F = D + tables."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfgc import coding
from tfgc.coding.synthetic import correlated_symbols
from tfgc.errors import ModelMismatchError

C, L = 3, 5
D = b"decoder weights!"
OTHER = b"other decoder..."


def _tables(seed: int) -> np.ndarray:
    return coding.fit_model_tables([correlated_symbols(12, 12, C, L, seed=seed)], L, C,
                                   structure=1)


@pytest.mark.parametrize("backend", ["tfc", "stock"])
def test_which_fingerprint_a_file_carries_and_who_may_decode_it(backend):
    from tfgc.export.modules import model_fingerprint

    tables, other_tables = _tables(0), _tables(1)
    F = model_fingerprint(D, tables)
    assert F != D and model_fingerprint(D, None) == D
    symbols = correlated_symbols(4, 6, C, L, seed=2)
    args = {"num_centers": L, "image_shape": (64, 96), "model_tables": tables,
            "backend": backend}
    in_file = bytes(coding.encode_symbols(symbols, fingerprint=F, decoder_fingerprint=D,
                                          entropy_models=[1], **args).numpy())
    with_model = bytes(coding.encode_symbols(symbols, fingerprint=F, decoder_fingerprint=D,
                                             entropy_models=["model"], **args).numpy())
    assert coding.parse_header(in_file).fingerprint == D
    assert coding.parse_header(with_model).fingerprint == F

    # A model without tables (a training workdir: F = D) reads the file-table file only.
    decoded, _ = coding.decode_symbols(in_file, fingerprint=D, backend=backend)
    np.testing.assert_array_equal(decoded, symbols)
    with pytest.raises(ModelMismatchError):
        coding.decode_symbols(with_model, fingerprint=D, backend=backend)
    # Other tables, or other decoder weights: refused.
    G = model_fingerprint(D, other_tables)
    with pytest.raises(ModelMismatchError):
        coding.decode_symbols(with_model, fingerprint=G, decoder_fingerprint=D,
                              model_tables=other_tables, backend=backend)
    with pytest.raises(ModelMismatchError):
        coding.decode_symbols(in_file, fingerprint=OTHER, backend=backend)

    # The same rules inside a graph (what the SavedModels run), both directions.
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)], autograph=False)
    def decode_as_workdir(data):
        return coding.decode_symbols(data, fingerprint=D, backend=backend,
                                     num_centers=L, num_channels=C)[0]

    np.testing.assert_array_equal(decode_as_workdir(tf.constant(in_file)), symbols)
    with pytest.raises(tf.errors.InvalidArgumentError, match="made by model"):
        decode_as_workdir(tf.constant(with_model))
