"""The Beam pipeline behind `python -m tfgc bulk`: match, skip finished, read, RunInference,
write, and report every file in a manifest.

    files matching --input
      -> one job per output name (two sources naming one output: both dead letters)
      -> an existing valid output?  yes: "skipped"       (a rerun redoes only the rest)
      -> read + decode the source   failed: dead letter
      -> RunInference (the SavedModel, batched by image size)
      -> write the output atomically
    -> OUTPUT/manifest.jsonl (every file) and OUTPUT/dead_letter.jsonl (the failed ones)
    -> evaluate: OUTPUT/results.json, results.md, rd.png from all per-image records
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from tfgc.bulk import storage
from tfgc.bulk.inference import TfgcModelHandler
from tfgc.bulk.tasks import Example, Job, Outcome, Task, failure

MANIFEST = "manifest.jsonl"
DEAD_LETTER = "dead_letter.jsonl"
METRICS_NAMESPACE = "tfgc"
STATUSES = ("written", "skipped", "failed")


@dataclass
class Summary:
    written: int
    skipped: int
    failed: int
    manifest: str
    dead_letter: str

    @property
    def total(self) -> int:
        return self.written + self.skipped + self.failed


class _Deduplicate(beam.DoFn):
    """(output, [sources]) -> the job, or dead letters when several sources name one output."""

    def process(self, element):
        output, sources = element
        sources = sorted(set(sources))
        if len(sources) == 1:
            yield Job(sources[0], output)
            return
        for source in sources:
            yield beam.pvalue.TaggedOutput("failed", failure(
                Job(source, output), f"{len(sources)} inputs would write {output} "
                f"({', '.join(sources)}); rename one or give a narrower --input"))


class _SkipFinished(beam.DoFn):
    """Jobs whose output is already there and valid become "skipped" outcomes."""

    def __init__(self, task: Task):
        self.task = task

    def process(self, job: Job):
        done = self.task.existing(job)
        if done is None:
            yield beam.pvalue.TaggedOutput("todo", job)
        else:
            yield done


class _Read(beam.DoFn):
    def __init__(self, task: Task):
        self.task = task

    def process(self, job: Job):
        try:
            yield self.task.read(job)
        except Exception as e:  # (an unreadable file is one dead letter)
            yield beam.pvalue.TaggedOutput("failed", failure(job, e))


class _Write(beam.DoFn):
    """Writes each new output atomically; a write error turns into that file's dead letter."""

    def process(self, prediction):
        outcome: Outcome = prediction.inference
        if outcome.data is not None and not outcome.failed:
            try:
                storage.write_bytes(outcome.job.output, outcome.data)
            except OSError as e:
                failed = failure(outcome.job, e)
                failed.details = outcome.details  # evaluate: the results hold it all the same
                yield failed
                return
        yield Outcome(outcome.job, None, outcome.record, outcome.details)


class _Count(beam.DoFn):
    def __init__(self):
        self.counters = {status: Metrics.counter(METRICS_NAMESPACE, status)
                         for status in STATUSES}

    def process(self, outcome: Outcome):
        self.counters[outcome.record["status"]].inc()
        yield outcome


class _WriteSummary(beam.DoFn):
    """evaluate: results.json / results.md / rd.png from every image's record, by
    tfgc.evaluation's own code (the same files `python -m tfgc evaluate` writes)."""

    def __init__(self, task: Task, output_dir: str, started: datetime.datetime):
        self.task = task
        self.output_dir = output_dir
        self.started = started

    def process(self, outcomes: list[Outcome]):
        from tfgc.evaluation import codecs as codecs_module
        from tfgc.evaluation.runner import (
            assemble_results,
            check_factors,
            nr_functions,
            source_for_path,
            write_outputs,
        )

        settings = self.task.settings
        outcomes = sorted(outcomes, key=lambda o: o.job.source)  # the CLI's order: by path

        def problem(outcome: Outcome, path: str, recorded: str) -> dict:
            """As results record it: paths below the input or output folder, as `evaluate`."""
            return {"image": source_for_path(outcome.job.source).name, "path": recorded,
                    "error": outcome.record["error"].replace(path, recorded)}

        def below_output(path: str) -> str:
            return path[len(self.output_dir):].lstrip("/" + os.sep)

        # As in `evaluate`: an image whose per_image/ file could not be written is still in
        # the results (and in write_errors); one that could not be evaluated is skipped.
        records = [o.details for o in outcomes if o.details is not None]
        skipped = [problem(o, o.job.source,
                           source_for_path(o.job.source, self.task.root).recorded_path)
                   for o in outcomes if o.details is None]
        write_errors = [problem(o, o.job.output, below_output(o.job.output)) for o in outcomes
                        if o.failed and o.details is not None]
        counts = {"evaluated": sum(o.record["status"] == "written" for o in outcomes),
                  "reused": sum(o.record["status"] == "skipped" for o in outcomes)}
        results = assemble_results(
            self.task.facts, codecs_module.get_baselines(settings.baselines),
            check_factors(settings.bpp_factors), list(nr_functions(settings.nr_metrics)),
            records, skipped, write_errors, [], self.started, counts)
        if storage.is_local(self.output_dir):
            write_outputs(self.output_dir, results)
            return
        with tempfile.TemporaryDirectory() as local:
            write_outputs(local, results)
            for name in os.listdir(local):
                with open(os.path.join(local, name), "rb") as f:
                    storage.write_bytes(storage.join(self.output_dir, name), f.read())


def _manifest_line(outcome: Outcome) -> str:
    return json.dumps(outcome.record, sort_keys=False)


def _dead_letter_line(outcome: Outcome) -> str:
    return json.dumps({k: outcome.record[k] for k in ("source", "output", "error")})


def _write_lines(lines: beam.PCollection, path: str, label: str):
    stem, suffix = os.path.splitext(path)
    return lines | label >> beam.io.WriteToText(stem, file_name_suffix=suffix, num_shards=1,
                                                shard_name_template="")


def build(pipeline: beam.Pipeline, task: Task, input_pattern: str, output_dir: str,
          max_batch_size: int) -> None:
    """Adds the bulk pipeline for `task` to `pipeline`."""
    jobs = (
        pipeline
        | "Match" >> fileio.MatchFiles(input_pattern,
                                       fileio.EmptyMatchTreatment.ALLOW)
        | "Paths" >> beam.Map(lambda metadata: metadata.path)
        | "Inputs" >> beam.Filter(task.accepts)
        | "ByOutput" >> beam.Map(lambda source: (task.job(source).output, source))
        | "GroupByOutput" >> beam.GroupByKey()
        | "OneSourceEach" >> beam.ParDo(_Deduplicate()).with_outputs("failed", main="jobs"))
    checked = (jobs.jobs | "SkipFinished" >> beam.ParDo(_SkipFinished(task))
               .with_outputs("todo", main="skipped"))
    read = (checked.todo | "Read" >> beam.ParDo(_Read(task))
            .with_outputs("failed", main="examples"))
    written = (read.examples
               | "RunInference" >> RunInference(TfgcModelHandler(task, max_batch_size))
               | "Write" >> beam.ParDo(_Write()))
    outcomes = ((checked.skipped, jobs.failed, read.failed, written)
                | "All" >> beam.Flatten()
                | "Count" >> beam.ParDo(_Count()))
    _write_lines(outcomes | "ManifestLines" >> beam.Map(_manifest_line),
                 storage.join(output_dir, MANIFEST), "WriteManifest")
    _write_lines(outcomes
                 | "Failed" >> beam.Filter(lambda outcome: outcome.failed)
                 | "DeadLetterLines" >> beam.Map(_dead_letter_line),
                 storage.join(output_dir, DEAD_LETTER), "WriteDeadLetter")
    if task.name == "evaluate":
        started = datetime.datetime.now(datetime.timezone.utc)
        _ = (outcomes
             | "Gather" >> beam.combiners.ToList()
             | "Summary" >> beam.ParDo(_WriteSummary(task, output_dir, started)))


def run(task: Task, input_pattern: str, output_dir: str, options: PipelineOptions,
        max_batch_size: int = 8) -> Summary:
    """Runs the pipeline to completion and counts what happened to the files."""
    storage.remove_stale_temps(output_dir)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, task, input_pattern, output_dir, max_batch_size)
    result = pipeline.run()
    result.wait_until_finish()
    counts = dict.fromkeys(STATUSES, 0)
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        if counter.key.metric.name in counts:
            counts[counter.key.metric.name] += counter.committed or counter.attempted or 0
    return Summary(counts["written"], counts["skipped"], counts["failed"],
                   storage.join(output_dir, MANIFEST), storage.join(output_dir, DEAD_LETTER))


__all__ = ["DEAD_LETTER", "MANIFEST", "Example", "Summary", "build", "run"]
