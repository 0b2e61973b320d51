"""Everything checked on the launching machine before a bulk pipeline starts, so a wrong path,
model or option fails in a second with one line instead of on a cluster."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import Optional

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from tfgc.bulk import storage
from tfgc.bulk.pipeline import Summary, run
from tfgc.bulk.tasks import CompressTask, DecompressTask, EvaluateSettings, EvaluateTask, ModelFacts
from tfgc.errors import ConfigError, DataError, ModelLoadError

SAVED_MODEL_NAME = "tfgc"  # an export folder holds tfgc/<version>/ (see tfgc.export)


def saved_model_dir(model: Optional[str]) -> str:
    """The SavedModel to run: --model as given, the newest version in an export folder, or
    the bundled model."""
    if model is None:
        from tfgc.assets import BUNDLED_MODEL_DIR

        model = BUNDLED_MODEL_DIR
    elif storage.is_local(model):
        model = os.path.abspath(model)  # workers may run elsewhere (another process, at least)
    if FileSystems.exists(storage.join(model, "saved_model.pb")):
        return model
    if storage.is_local(model):  # os.listdir: version folders may be symlinks
        root = os.path.join(model, SAVED_MODEL_NAME)
        found = [os.path.join(root, v, "saved_model.pb")
                 for v in (os.listdir(root) if os.path.isdir(root) else [])]
    else:
        pattern = storage.join(model, SAVED_MODEL_NAME, "*", "saved_model.pb")
        found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    versions = [path[:-len("/saved_model.pb")] for path in found
                if path.split("/")[-2].isdigit() and FileSystems.exists(path)]
    if versions:
        return max(versions, key=lambda path: int(path.rsplit("/", 1)[-1]))
    if FileSystems.exists(storage.join(model, "config.json")):
        raise ModelLoadError(
            f"{model} is a training workdir; bulk runs an exported SavedModel: "
            f"python export.py --workdir={model} --export_dir=EXPORT, then --model EXPORT")
    raise ModelLoadError(f"{model} is not a tfgc SavedModel export (no saved_model.pb, "
                         f"no {SAVED_MODEL_NAME}/<version>/)")


def input_pattern(given: str) -> str:
    """A local folder means every file below it, as in the plain commands."""
    if storage.is_local(given) and os.path.isdir(given):
        return os.path.join(os.path.abspath(given), "**")
    if storage.is_local(given):
        return os.path.abspath(given)
    return given


def pipeline_options(flags: Sequence[str]) -> PipelineOptions:
    """Beam's options from the command line's other flags; a flag no Beam runner knows is an
    error (Beam itself would drop it with a log line)."""
    parsers: list[argparse.ArgumentParser] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    _, unknown = parsers[0].parse_known_args(list(flags))
    if unknown:
        raise ConfigError(f"unknown option(s) {' '.join(unknown)}: bulk takes --input, --output, "
                          "--model, --batch-size (evaluate: --baselines, --bpp-factors, "
                          "--nr-metrics) and Beam pipeline options")
    return PipelineOptions(list(flags))


def launch(task_name: str, input_glob: str, output_dir: str, model: Optional[str],
           batch_size: int, flags: Sequence[str],
           evaluate_settings: Optional[tuple] = None, verbose: bool = False) -> Summary:
    """Checks the inputs, the model and the options, then runs the pipeline to the end."""
    if not verbose:  # Beam's progress log and its workers' notices, like TensorFlow's
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    options = pipeline_options(flags)
    pattern = input_pattern(input_glob)
    if not FileSystems.match([pattern], limits=[1])[0].metadata_list:
        raise DataError(f"no files match --input {input_glob}")
    if storage.is_local(output_dir):
        output_dir = os.path.abspath(output_dir)
    path = saved_model_dir(model)
    from tfgc.codec import Codec  # TensorFlow: only once the cheap checks have passed

    codec = Codec.from_saved_model(path)  # a broken or stock-only export fails here, once
    facts = ModelFacts.of(codec, path)
    del codec
    if task_name == "compress":
        task = CompressTask(facts, pattern, output_dir)
    elif task_name == "decompress":
        task = DecompressTask(facts, pattern, output_dir)
    else:
        from tfgc.evaluation.codecs import get_baselines
        from tfgc.evaluation.runner import check_factors, nr_functions

        baselines, factors, metrics = evaluate_settings
        get_baselines(baselines), check_factors(factors), nr_functions(metrics)  # fail early
        task = EvaluateTask(facts, pattern, output_dir,
                            EvaluateSettings(tuple(baselines), tuple(factors), tuple(metrics)))
    return run(task, pattern, output_dir, options, batch_size)
