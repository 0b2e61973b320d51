"""Exceptions raised by tfgc.

Every failure a user can cause (bad data, bad files, bad flags) surfaces as a subclass of
`TfgcError` with a message that says what to do, never as a traceback from deep inside TF.
"""


class TfgcError(Exception):
    """Base class of every error tfgc raises on purpose."""


class ConfigError(TfgcError):
    """A config field or flag has a value tfgc cannot use."""


class DataError(TfgcError):
    """Training or evaluation data cannot be found or read."""


class ImageReadError(DataError):
    """An input image cannot be decoded."""


class ModelLoadError(TfgcError):
    """A checkpoint, SavedModel or weights file is missing or unusable."""


class BitstreamError(TfgcError):
    """A `.tfgc` file is malformed: truncated, corrupted, or not a tfgc file at all."""


class UnsupportedVersionError(BitstreamError):
    """The file was written by a format version this build cannot read."""


class ModelMismatchError(BitstreamError):
    """The file was written by a different model than the one decoding it."""


class OutputError(TfgcError):
    """An output file or folder cannot be written (not a folder, read-only, disk full)."""


class TensorFlowStateError(TfgcError):
    """TensorFlow's process state would build wrong graphs (see tfgc/utils/absl_app.py)."""


class ResourceLimitError(TfgcError):
    """Decoding or encoding would exceed a resource limit (e.g. `max_pixels`, or memory)."""
