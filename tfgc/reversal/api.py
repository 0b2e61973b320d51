"""Compress an image to a `.tfgz` file through a generator, and back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import TfgcError
from tfgc.reversal.fileformat import decode_file, parse_header
from tfgc.reversal.generators import PriorTiledGenerator, ReversibleGenerator
from tfgc.reversal.reverse import (
    ReversalResult,
    ReversalSettings,
    Reverser,
    check_pixels,
    reversal_file,
)

AnyGenerator = ReversibleGenerator | PriorTiledGenerator


def compress_reversal(generator: AnyGenerator, image: np.ndarray,
                      settings: ReversalSettings | None = None,
                      initial_z: np.ndarray | None = None,
                      progress: Callable[[int, np.ndarray], None] | None = None
                      ) -> tuple[bytes, ReversalResult]:
    """uint8 [H, W, 3] -> (the `.tfgz` file, what the search found). A generator SavedModel
    takes images of its size, a `PriorTiledGenerator` any size."""
    settings = settings or ReversalSettings()
    if isinstance(generator, PriorTiledGenerator):
        check_pixels(image)
        generator = generator.at(np.asarray(image).shape[:2])
    result = Reverser(generator, settings).reverse(image, initial_z, progress)
    return reversal_file(generator, result.code, settings.coder), result


def decompress_reversal(data: bytes, generator: AnyGenerator,
                        max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`.tfgz` bytes -> uint8 [H, W, 3]; a bad file or another generator raises a tfgc error,
    an image above `max_pixels` (None: no limit) ResourceLimitError, before any decoding."""
    if not isinstance(data, (bytes, bytearray)):
        raise TfgcError(f"decompress takes bytes, got {type(data).__name__}")
    data = bytes(data)
    if isinstance(generator, PriorTiledGenerator):
        # The file's image size picks the tile grid (`at` only plans it: nothing is built or
        # decoded before decode_file's checks); the identity checks come first.
        header = parse_header(data, fingerprint=generator.fingerprint,
                              model_fingerprint=generator.model_fingerprint)
        generator = generator.at((header.image_height, header.image_width))
    code, _ = decode_file(data, fingerprint=generator.fingerprint,
                          model_fingerprint=generator.model_fingerprint,
                          prior_range=generator.prior_range, image_shape=generator.image_shape,
                          latent_size=generator.latent_size, max_pixels=max_pixels)
    return generator.picture(code.values())
