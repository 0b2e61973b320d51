"""Bulk compress, decompress and evaluate on Apache Beam (`python -m tfgc bulk ...`).

Sits above the codec: runs the exported SavedModel through Beam's RunInference, never the
trainer. Needs the `beam` extra; importing this package alone does not import Beam.
"""
