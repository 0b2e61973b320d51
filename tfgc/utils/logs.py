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


def show_tensorflow_log(min_level: int = 0) -> None:
    """TF's C++ log from `min_level` up (0 info, 1 warnings, 2 errors, 3 fatal only), unless the
    user chose a level. Works only before TensorFlow is imported (TF reads it once)."""
    if _set_by_tfgc:
        os.environ[TF_LOG_LEVEL] = str(min(3, max(0, min_level)))


def set_verbose(verbose: bool) -> None:
    """The CLI's --verbose: TF's whole log (unless the user set a level); else only errors."""
    if verbose:
        show_tensorflow_log(0)
        return
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
