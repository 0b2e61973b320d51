"""What `bulk compress`, `bulk decompress` and `bulk evaluate` do to one file, apart from Beam.

Each task says which inputs it takes, where a source's result goes, whether an existing result
can be kept, how to read a source, and how the loaded model turns a batch of read sources into
results. The pipeline (tfgc.bulk.pipeline) wires these steps with Beam; the model runs inside
RunInference (tfgc.bulk.inference). Every failure a user can cause becomes an `Outcome` with the
tfgc error message, so one bad file never stops the others.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from tfgc.bulk import storage
from tfgc.data.images import IMAGE_EXTENSIONS, encode_png, load_image
from tfgc.errors import TfgcError

MANIFEST_FIELDS = ("source", "output", "status", "bytes", "bpp", "fingerprint", "seconds",
                   "error")


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    source: str
    output: str


@dataclass
class Example:
    """A read source on its way into the model."""

    job: Job
    content: Any  # pixels (compress, evaluate) or the .tfgc bytes (decompress)
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple:
        """Batching key: only images of one size (or bitstrings) can share a model call."""
        return getattr(self.content, "shape", ())


@dataclass
class Outcome:
    """A job's result: `data` to write at job.output (None: nothing to write), its manifest
    line, and (evaluate) the image's evaluation record for the summary."""

    job: Job
    data: Optional[bytes]
    record: dict
    details: Optional[dict] = None

    @property
    def failed(self) -> bool:
        return self.record.get("error") is not None


def record(job: Job, status: str, *, size: Optional[int] = None, pixels: Optional[int] = None,
           fingerprint: Optional[bytes] = None, seconds: Optional[float] = None,
           error: Optional[str] = None) -> dict:
    """One manifest line; bpp is 8 * bytes / pixels of the image."""
    return {"source": job.source, "output": job.output, "status": status, "bytes": size,
            "bpp": 8 * size / pixels if size is not None and pixels else None,
            "fingerprint": fingerprint.hex() if fingerprint else None,
            "seconds": seconds, "error": error}


def failure(job: Job, error: BaseException | str) -> Outcome:
    if isinstance(error, OSError):
        message = f"cannot access {error.filename or job.source}: {error.strerror or error}"
    elif isinstance(error, TfgcError):
        message = str(error)
    elif isinstance(error, str):
        message = error
    else:  # not a tfgc error: still one line in the dead letters, the run goes on
        message = f"unexpected {type(error).__name__}: {error}"
    return Outcome(job, None, record(job, "failed", error=message))


@dataclass(frozen=True)
class ModelFacts:
    """What checking an existing output needs to know about the model, without loading it."""

    path: str
    name: str
    fingerprint: bytes
    model_tables: Optional[np.ndarray]
    num_centers: int
    num_channels: int
    decoder_fingerprint: Optional[bytes] = None  # accepted on files without model tables

    @classmethod
    def of(cls, codec, path: str) -> ModelFacts:
        return cls(path, codec.name, codec.fingerprint, codec.model_tables, codec.num_centers,
                   codec.num_channels, codec.decoder_fingerprint)

    def validate(self, data: bytes):
        """The header of a `.tfgc` file this model can decode; a tfgc error otherwise."""
        from tfgc import coding

        return coding.validate_file(data, fingerprint=self.fingerprint,
                                    model_tables=self.model_tables,
                                    num_centers=self.num_centers,
                                    num_channels=self.num_channels,
                                    decoder_fingerprint=self.decoder_fingerprint)


def _up_to_date(job: Job) -> bool:
    """The output exists and is not older than its source (like make)."""
    output_time = storage.modified_time(job.output)
    return output_time is not None and output_time >= (storage.modified_time(job.source) or 0)


def _by_shape(examples: Sequence[Example]) -> list[list[int]]:
    """Indices of examples grouped by shape, in first-seen order."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        groups[example.shape].append(index)
    return list(groups.values())


class Task:
    """Base of the three tasks: names outputs after their sources below the glob's folder."""

    name = ""
    verb = ""
    input_suffixes: tuple[str, ...] = ()
    output_suffix = ""

    def __init__(self, facts: ModelFacts, input_pattern: str, output_dir: str):
        self.facts = facts
        self.root = storage.glob_root(input_pattern)
        self.output_dir = output_dir

    def accepts(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return path.lower().endswith(self.input_suffixes) and not name.startswith(".")

    def job(self, source: str) -> Job:
        return Job(source, storage.output_path(source, self.root, self.output_dir,
                                               self.output_suffix))

    def load(self, codec):
        """What `run` gets as its model: the codec itself, for compress and decompress."""
        return codec


class CompressTask(Task):
    name = "compress"
    verb = "compressed"
    input_suffixes = IMAGE_EXTENSIONS
    output_suffix = ".tfgc"

    def existing(self, job: Job) -> Optional[Outcome]:
        """An Outcome for a valid `.tfgc` output already there, else None (do the job)."""
        if not _up_to_date(job):
            return None
        try:
            data = storage.read_bytes(job.output)
            header = self.facts.validate(data)
        except (OSError, TfgcError):
            return None  # unreadable or half-written: made again
        if header.noise_seed != 0:
            return None
        pixels = header.image_height * header.image_width
        return Outcome(job, None, record(job, "skipped", size=len(data), pixels=pixels,
                                         fingerprint=header.fingerprint, seconds=0.0))

    def read(self, job: Job) -> Example:
        loaded = load_image(storage.read_bytes(job.source), name=job.source)
        return Example(job, loaded.pixels)

    def run(self, codec, examples: Sequence[Example]) -> list[Outcome]:
        outcomes: list[Optional[Outcome]] = [None] * len(examples)
        for indices in _by_shape(examples):
            # One shape per model call; the current signatures take one image at a time.
            for index in indices:
                example = examples[index]
                try:
                    result = codec.compress_with_stats(example.content)
                except Exception as e:  # (one bad image never stops the run)
                    outcomes[index] = failure(example.job, e)
                    continue
                outcomes[index] = Outcome(example.job, result.data, record(
                    example.job, "written", size=len(result.data),
                    pixels=result.height * result.width, fingerprint=codec.fingerprint,
                    seconds=result.seconds))
        return outcomes


class DecompressTask(Task):
    name = "decompress"
    verb = "decompressed"
    input_suffixes = (".tfgc",)
    output_suffix = ".png"

    def existing(self, job: Job) -> Optional[Outcome]:
        """An Outcome for a complete PNG of the right size already there, else None."""
        from PIL import Image

        if not _up_to_date(job):
            return None
        try:
            data = storage.read_bytes(job.source)
            header = self.facts.validate(data)
            with Image.open(io.BytesIO(storage.read_bytes(job.output))) as png:
                size = png.size
                png.load()  # decodes every chunk: a truncated file fails here
        except (OSError, ValueError, SyntaxError, TfgcError):
            return None
        if size != (header.image_width, header.image_height):
            return None
        pixels = header.image_height * header.image_width
        return Outcome(job, None, record(job, "skipped", size=len(data), pixels=pixels,
                                         fingerprint=header.fingerprint, seconds=0.0))

    def read(self, job: Job) -> Example:
        return Example(job, storage.read_bytes(job.source))

    def run(self, codec, examples: Sequence[Example]) -> list[Outcome]:
        outcomes = []
        for example in examples:  # the current decompress signature takes one file at a time
            data = example.content
            try:
                start = time.perf_counter()
                pixels = codec.decompress(data)
                seconds = time.perf_counter() - start
                header = codec.info(data)
            except Exception as e:  # (one bad file never stops the run)
                outcomes.append(failure(example.job, e))
                continue
            outcomes.append(Outcome(example.job, encode_png(pixels), record(
                example.job, "written", size=len(data), pixels=pixels.shape[0] * pixels.shape[1],
                fingerprint=header.fingerprint, seconds=seconds)))
        return outcomes


@dataclass(frozen=True)
class EvaluateSettings:
    baselines: tuple[str, ...]
    bpp_factors: tuple[float, ...]
    nr_metrics: tuple[str, ...]


@dataclass
class LoadedEvaluation:
    """What `bulk evaluate` loads once per worker (a class: Beam's model cache weak-refs it)."""

    codec: Any
    baselines: list
    factors: list[float]
    functions: dict


class EvaluateTask(Task):
    """Per-image results exactly as `python -m tfgc evaluate` computes and stores them
    (OUTPUT/per_image/<key>.json, reused on a rerun), by tfgc.evaluation's own code."""

    name = "evaluate"
    verb = "evaluated"
    input_suffixes = IMAGE_EXTENSIONS
    output_suffix = ".json"

    def __init__(self, facts: ModelFacts, input_pattern: str, output_dir: str,
                 settings: EvaluateSettings):
        super().__init__(facts, input_pattern, output_dir)
        self.settings = settings

    def job(self, source: str) -> Job:
        from tfgc.evaluation.runner import source_for_path

        key = source_for_path(source).key
        return Job(source, storage.join(self.output_dir, "per_image", key + ".json"))

    def existing(self, job: Job) -> Optional[Outcome]:
        return None  # evaluate_image reuses what per_image/ holds, entry by entry

    def read(self, job: Job) -> Example:
        from tfgc.evaluation.runner import source_for_path

        content = storage.read_bytes(job.source)
        loaded = load_image(content, name=job.source)
        try:
            previous = json.loads(storage.read_bytes(job.output))
        except (OSError, ValueError):
            previous = None  # absent or unreadable: computed again
        return Example(job, loaded.pixels, {
            "source": source_for_path(job.source, self.root),
            "sha256": hashlib.sha256(content).hexdigest(),
            "conversions": loaded.conversions, "previous": previous})

    def load(self, codec) -> LoadedEvaluation:
        """The codec plus what evaluation loads once: baseline codecs and metric models."""
        from tfgc.evaluation import codecs as codecs_module
        from tfgc.evaluation.runner import check_factors, nr_functions

        return LoadedEvaluation(codec, codecs_module.get_baselines(self.settings.baselines),
                                check_factors(self.settings.bpp_factors),
                                nr_functions(self.settings.nr_metrics))

    def run(self, loaded: LoadedEvaluation, examples: Sequence[Example]) -> list[Outcome]:
        from tfgc.evaluation.runner import ModelFailure, evaluate_image, to_json

        codec, baselines = loaded.codec, loaded.baselines
        factors, functions = loaded.factors, loaded.functions
        outcomes = []
        for example in examples:
            start = time.perf_counter()
            try:
                outcome = evaluate_image(
                    example.extra["source"], example.content, example.extra["sha256"],
                    example.extra["conversions"], example.extra["previous"], codec, baselines,
                    factors, functions, keep=False)
            except ModelFailure as e:
                outcomes.append(failure(example.job, str(e)))
                continue
            except Exception as e:  # (one bad image never stops the run)
                outcomes.append(failure(example.job, e))
                continue
            model = outcome.record["model"]
            pixels = example.content.shape[0] * example.content.shape[1]
            outcomes.append(Outcome(
                example.job, to_json(outcome.record).encode("utf-8") if outcome.computed else None,
                record(example.job, "written" if outcome.computed else "skipped",
                       size=model["bytes"], pixels=pixels, fingerprint=codec.fingerprint,
                       seconds=time.perf_counter() - start if outcome.computed else 0.0),
                outcome.record))
        return outcomes
