"""Restoring networks from a checkpoint that must hold all of them."""

from __future__ import annotations

from tfgc.errors import ModelLoadError


def require_all_restored(status, mismatch: str) -> None:
    """Checks a `tf.train.Checkpoint` read/restore `status`: every network variable was found
    (else ModelLoadError `mismatch: <TF's first line>`, not a model that silently keeps random
    weights); what the file holds beyond them (D, optimizers) is ignored without warnings."""
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ModelLoadError(f"{mismatch}: {str(e).splitlines()[0]}") from None
    status.expect_partial()
