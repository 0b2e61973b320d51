"""TensorFlow's own log kept off a user's terminal unless asked for (`--verbose`)."""

from __future__ import annotations

import logging
import os

TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
_set_by_tfgc = False


def quiet_tensorflow_startup() -> None:
    """Hides TF's C++ log (cuDNN/cuFFT/cuBLAS factory errors, TensorRT and CPU-feature notices)
    unless the user chose a level. Works only before TensorFlow is imported, so tfgc's package
    import calls it."""
    global _set_by_tfgc
    if TF_LOG_LEVEL not in os.environ:
        os.environ[TF_LOG_LEVEL] = "3"
        _set_by_tfgc = True


def set_verbose(verbose: bool) -> None:
    """The CLI's --verbose: TF's whole log (unless the user set a level); else only errors."""
    if verbose:
        if _set_by_tfgc:
            os.environ[TF_LOG_LEVEL] = "0"
        return
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
