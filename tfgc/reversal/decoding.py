"""Reading `.tfgz` files beside `.tfgc` ones: the generator is loaded only when one turns up."""

from __future__ import annotations

import numpy as np

from tfgc.coding.format import DEFAULT_MAX_PIXELS
from tfgc.errors import ModelMismatchError
from tfgc.reversal.fileformat import check_generator_kind, is_reversal_file, parse_header


class ReversalDecoder:
    """generator_path: a generator SavedModel, or with `prior_path` a GC model (None: the
    bundled one) whose G decodes the prior's codes."""

    def __init__(self, generator_path: str | None, prior_path: str | None = None):
        self.generator_path, self.prior_path = generator_path, prior_path
        self._generator = None

    @staticmethod
    def accepts(data: bytes) -> bool:
        return is_reversal_file(data)

    def decompress(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
                   ) -> np.ndarray:
        """The file's image; the decode-size policy is the `.tfgc` one (ResourceLimitError)."""
        from tfgc.reversal.api import decompress_reversal
        from tfgc.reversal.generators import load_generator, load_prior_generator

        if self.generator_path is None and self.prior_path is None:
            raise ModelMismatchError("this is a GAN-reversal (.tfgz) file: pass --generator "
                                     "PATH, the generator that made it (and --prior PATH if "
                                     "it was a code prior with a GC model's G)")
        if self._generator is None:  # refuse a file of the other kind before loading anything
            check_generator_kind(parse_header(data), prior_and_g=self.prior_path is not None)
            self._generator = (load_prior_generator(self.prior_path, self.generator_path)
                               if self.prior_path else load_generator(self.generator_path))
        return decompress_reversal(data, self._generator, max_pixels)
