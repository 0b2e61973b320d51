"""Compress an image to a `.tfgz` file through a generator, and back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfgc.errors import TfgcError
from tfgc.reversal.fileformat import decode_file, encode_file
from tfgc.reversal.generators import ReversibleGenerator
from tfgc.reversal.reverse import ReversalResult, ReversalSettings, Reverser


def compress_reversal(generator: ReversibleGenerator, image: np.ndarray,
                      settings: ReversalSettings | None = None,
                      initial_z: np.ndarray | None = None,
                      progress: Callable[[int, np.ndarray], None] | None = None
                      ) -> tuple[bytes, ReversalResult]:
    """uint8 [H, W, 3] at the generator's size -> (the `.tfgz` file, what the search found)."""
    settings = settings or ReversalSettings()
    result = Reverser(generator, settings).reverse(image, initial_z, progress)
    data = encode_file(result.code, fingerprint=generator.fingerprint,
                       image_shape=generator.image_shape, prior_range=generator.prior_range,
                       coder=settings.coder)
    return data, result


def decompress_reversal(data: bytes, generator: ReversibleGenerator) -> np.ndarray:
    """`.tfgz` bytes -> uint8 [H, W, 3]; a bad file or another generator raises a tfgc error."""
    if not isinstance(data, (bytes, bytearray)):
        raise TfgcError(f"decompress takes bytes, got {type(data).__name__}")
    code, header = decode_file(bytes(data), fingerprint=generator.fingerprint,
                               prior_range=generator.prior_range)
    if (header.image_height, header.image_width) != tuple(generator.image_shape):
        raise TfgcError("the file's image size does not match the generator's")
    z = code.values().reshape((1, *generator.latent_shape))
    image = generator(tf.constant(z))[0]
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8).numpy()
