"""Compress an image to a `.tfgz` file through a generator, and back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import TfgcError
from tfgc.export.modules import to_uint8
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


def decompress_reversal(data: bytes, generator: ReversibleGenerator,
                        max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`.tfgz` bytes -> uint8 [H, W, 3]; a bad file or another generator raises a tfgc error,
    an image above `max_pixels` (None: no limit) ResourceLimitError, before any decoding."""
    if not isinstance(data, (bytes, bytearray)):
        raise TfgcError(f"decompress takes bytes, got {type(data).__name__}")
    code, _ = decode_file(bytes(data), fingerprint=generator.fingerprint,
                          prior_range=generator.prior_range, image_shape=generator.image_shape,
                          latent_size=generator.latent_size, max_pixels=max_pixels)
    z = code.values().reshape((1, *generator.latent_shape))
    return to_uint8(generator(tf.constant(z)))[0].numpy()
