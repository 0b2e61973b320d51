"""Reading `.tfgz` files beside `.tfgc` ones: the generator is loaded only when one turns up."""

from __future__ import annotations

import numpy as np

from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import ModelMismatchError
from tfgc.reversal.fileformat import is_reversal_file


class ReversalDecoder:
    def __init__(self, generator_path: str | None):
        self.generator_path = generator_path
        self._generator = None

    @staticmethod
    def accepts(data: bytes) -> bool:
        return is_reversal_file(data)

    def decompress(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
                   ) -> np.ndarray:
        """The file's image; the decode-size policy is the `.tfgc` one (ResourceLimitError)."""
        from tfgc.reversal.api import decompress_reversal
        from tfgc.reversal.generators import load_generator

        if self.generator_path is None:
            raise ModelMismatchError("this is a GAN-reversal (.tfgz) file: pass --generator "
                                     "PATH, the generator that made it")
        if self._generator is None:
            self._generator = load_generator(self.generator_path)
        return decompress_reversal(data, self._generator, max_pixels)
