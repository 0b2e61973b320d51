"""A RunInference ModelHandler for tfgc's exported SavedModel.

Beam loads the model once per worker process (RunInference shares it between the worker's
threads) and hands `run_inference` batches of read sources. Images of different sizes cannot
share a model call, so a task groups each batch by shape before calling the model.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from tfgc.bulk.tasks import Example, Task


class TfgcModelHandler(ModelHandler[Example, PredictionResult, Any]):
    """Runs a tfgc SavedModel (a `tfgc/<version>` export directory) on Examples."""

    def __init__(self, task: Task, max_batch_size: int = 8):
        super().__init__()
        self.task = task
        self.max_batch_size = max_batch_size

    def load_model(self) -> Any:
        from tfgc.codec import Codec

        atexit.register(_release_models)
        codec = Codec.from_saved_model(self.task.facts.path)
        codec.name = self.task.facts.name  # the launcher's name for it, in every worker
        # A first call outside the timings (and outside the first real batch).
        codec.decompress(codec.compress(np.zeros([32, 32, 3], np.uint8)))
        return self.task.load(codec)

    def run_inference(self, batch: Sequence[Example], model: Any,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        outcomes = self.task.run(model, batch)
        return [PredictionResult(example, outcome) for example, outcome in zip(batch, outcomes)]

    def get_num_bytes(self, batch: Sequence[Example]) -> int:
        return sum(getattr(e.content, "nbytes", None) or len(e.content) for e in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": 1, "max_batch_size": self.max_batch_size}

    def get_metrics_namespace(self) -> str:
        return "tfgc"


def _release_models() -> None:
    """Beam's model cache keeps the last loaded model alive until the interpreter exits, when
    TensorFlow can no longer free it and prints 'Exception ignored' tracebacks: free it before."""
    from apache_beam.utils import shared

    if hasattr(shared._shared_map, "_keepalive"):
        shared._shared_map._keepalive = (None, None)
    gc.collect()
