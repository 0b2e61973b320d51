"""The evaluation loop: our codec and rate-matched classical codecs on a set of images.

Results are persisted per image (out_dir/per_image/*.json, written atomically) as soon as the
image is done, so an interrupted run resumes where it stopped and a rerun only computes what is
missing (a new codec or factor, say). An image that cannot be read is reported and skipped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import posixpath
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Union

import numpy as np

from tfgc.data.images import load_image
from tfgc.errors import ConfigError, DataError, ImageReadError, OutputError, TfgcError
from tfgc.evaluation import codecs as codecs_module
from tfgc.evaluation.metrics import PSNR_CAP_DB, reference_metrics
from tfgc.evaluation.rate_matching import EncodeCache, match_rate
from tfgc.utils.files import write_text_atomic

FORMAT_VERSION = 1
DEFAULT_FACTORS = (1.0, 2.0)
NR_METRICS = ("niqe", "brisque")
DEFAULT_CROPS = 3
# Direction of each metric, written next to the numbers so nobody has to guess.
BETTER = {"psnr": "higher", "ms_ssim": "higher", "niqe": "lower", "brisque": "lower"}


class Codec(Protocol):
    """What evaluation needs from a learned codec (tfgc.codec.load_codec returns one)."""

    name: str

    def compress(self, image: np.ndarray) -> bytes: ...

    def decompress(self, data: bytes) -> np.ndarray: ...

    def header_size(self, data: bytes) -> int: ...


ImageInput = Union[str, os.PathLike, np.ndarray, tuple]


@dataclass(frozen=True)
class ImageSource:
    key: str  # file-system-safe, unique: names the per-image json and crop files
    name: str
    path: Optional[str] = None  # where it is read from
    pixels: Optional[np.ndarray] = None
    # What results record as its path: below the input folder, led by the folder's name
    # ("kodak/kodim01.png"), so published results never name this machine's folders.
    recorded_path: Optional[str] = None


# ---------------------------------------------------------------------------------- inputs


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "image"


def collect_sources(images: Union[str, os.PathLike, Iterable[ImageInput]],
                    limit: Optional[int] = None) -> list[ImageSource]:
    """A folder, a glob, a file, or a sequence of paths / arrays / (name, array) pairs."""
    from tfgc.data.images import list_images

    root = None  # each listed path's own folder
    if isinstance(images, (str, os.PathLike)):
        paths = list_images(images)
        if not paths:
            raise DataError(f"no images found at {os.fspath(images)!r} (a folder, a glob such as "
                            f"'photos/*.png', or a file; extensions: png, jpg, webp, ...)")
        items: list[ImageInput] = list(paths)
        root = input_folder(os.fspath(images))
    elif isinstance(images, np.ndarray):
        items = [images]
    else:
        items = list(images)
    sources = []
    for index, item in enumerate(items):
        if isinstance(item, np.ndarray):
            digest = hashlib.sha1(np.ascontiguousarray(item).tobytes()).hexdigest()[:8]
            sources.append(ImageSource(f"array{index:04d}-{digest}", f"array {index}", None, item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], np.ndarray):
            name = str(item[0])
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            sources.append(ImageSource(f"{_safe(name)}-{digest}", name, None, item[1]))
        else:
            sources.append(source_for_path(os.fspath(item), root))
    return sources[:limit] if limit else sources


def input_folder(images: str) -> str:
    """The folder an input names: the folder itself, a file's folder, or where a glob starts."""
    if os.path.isdir(images):
        return images
    return os.path.dirname(re.split(r"[*?[]", images, maxsplit=1)[0])


def source_for_path(path: str, root: Optional[str] = None) -> ImageSource:
    """An image file's source; its key (the per_image/ file name) is the same in every run,
    from `python -m tfgc evaluate` and from `python -m tfgc bulk evaluate` alike. `root`:
    the input folder (None: the file's own), which its `recorded_path` starts from."""
    remote = "://" in path  # gs://, s3://, ... name themselves; local paths are made absolute
    if not remote:
        path = os.path.abspath(path)
    folder, name = posixpath.split(path) if remote else os.path.split(path)
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return ImageSource(f"{_safe(os.path.splitext(name)[0])}-{digest}", name, path,
                       recorded_path=_below_folder(path, folder if root is None else root))


def _below_folder(path: str, root: str) -> str:
    """`path` below the folder `root`, led by the folder's name, with / separators
    ("kodak/kodim01.png"); a path outside `root` is its file name."""
    if "://" in path:
        root = root.rstrip("/")
        below = path[len(root) + 1:] if path.startswith(root + "/") else posixpath.basename(path)
        return posixpath.join(posixpath.basename(root), below)
    root = os.path.abspath(root)
    below = os.path.relpath(path, root)
    if below.split(os.sep)[0] == os.pardir:
        below = os.path.basename(path)
    return posixpath.join(os.path.basename(root), *below.split(os.sep))


def _read(source: ImageSource) -> tuple[np.ndarray, str, list[str]]:
    """Pixels, content hash (to notice a changed file on rerun) and colour conversions made."""
    if source.pixels is not None:
        pixels = np.asarray(source.pixels)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise ImageReadError(f"{source.name}: expected uint8 [H, W, 3], got "
                                 f"{pixels.dtype} {pixels.shape}")
        return pixels, hashlib.sha256(pixels.tobytes()).hexdigest(), []
    try:
        with open(source.path, "rb") as f:
            content = f.read()
    except OSError as e:
        raise ImageReadError(f"cannot open image {source.recorded_path}: "
                             f"{e.strerror or e}") from None
    loaded = load_image(content, name=source.recorded_path)  # errors name it as results do
    return loaded.pixels, hashlib.sha256(content).hexdigest(), loaded.conversions


# ---------------------------------------------------------------------------------- metrics


def nr_functions(names: Sequence[str]) -> dict[str, Callable[[np.ndarray], float]]:
    """Loads each no-reference model up front so a missing model fails before the loop."""
    functions: dict[str, Callable[[np.ndarray], float]] = {}
    for name in names:
        if name == "niqe":
            from tfgc.evaluation import niqe

            niqe.load_model()
            functions[name] = niqe.niqe
        elif name == "brisque":
            from tfgc.evaluation import brisque_metric

            brisque_metric.load_model()
            functions[name] = brisque_metric.brisque
        else:
            raise ConfigError(f"unknown no-reference metric {name!r}; choose from "
                              f"{', '.join(NR_METRICS)}")
    return functions


def _finite(value: float) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(value) else None


def _nr_metrics(image: np.ndarray, functions: dict[str, Callable]) -> dict[str, Optional[float]]:
    values: dict[str, Optional[float]] = {}
    for name, function in functions.items():
        try:
            values[name] = _finite(function(image))
        except ValueError:  # e.g. NIQE on an image smaller than one 96x96 patch
            values[name] = None
    return values


def _metrics(original: np.ndarray, reconstruction: np.ndarray,
             functions: dict[str, Callable]) -> dict[str, Any]:
    return {**reference_metrics(original, reconstruction), **_nr_metrics(reconstruction, functions)}


# ---------------------------------------------------------------------------------- one image


def factor_key(factor: float) -> str:
    return f"{factor:g}"


def _sizes(data_size: int, payload: Optional[int], pixels: int) -> dict[str, Any]:
    known = payload is not None
    return {"bytes": data_size, "bpp": data_size * 8 / pixels, "payload_bytes": payload,
            "payload_bpp": payload * 8 / pixels if known else None,
            "container_bytes": data_size - payload if known else None}


class ModelFailure(Exception):
    """Our codec could not code one image (too small, say): that image is skipped."""


def _code_with_model(codec: Codec, image: np.ndarray) -> tuple[bytes, np.ndarray, float, float]:
    try:
        start = time.perf_counter()
        data = codec.compress(image)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        reconstruction = np.asarray(codec.decompress(data))
        decode_s = time.perf_counter() - start
    except (TfgcError, ValueError) as e:
        raise ModelFailure(f"model failed: {e}") from e
    if reconstruction.shape != image.shape or reconstruction.dtype != np.uint8:
        raise ModelFailure(f"model decoded {reconstruction.dtype} {reconstruction.shape}, "
                           f"expected uint8 {image.shape}")
    if not data:
        raise ModelFailure("model wrote an empty file")
    return data, reconstruction, encode_s, decode_s


def _run_model(codec: Codec, image: np.ndarray,
               functions: dict[str, Callable]) -> tuple[dict[str, Any], np.ndarray]:
    pixels = image.shape[0] * image.shape[1]
    data, reconstruction, encode_s, decode_s = _code_with_model(codec, image)
    header = int(codec.header_size(data))
    entry = {"name": codec.name, **_sizes(len(data), len(data) - header, pixels),
             "header_bytes": header, "encode_s": encode_s, "decode_s": decode_s,
             "metrics": _metrics(image, reconstruction, functions)}
    return entry, reconstruction


def _run_baseline(baseline: codecs_module.BaselineCodec, cache: EncodeCache, image: np.ndarray,
                  factor: float, model_bpp: float,
                  functions: dict[str, Callable]) -> tuple[dict[str, Any], Optional[np.ndarray]]:
    entry: dict[str, Any] = {"codec": baseline.name, "label": baseline.label, "factor": factor,
                             "target_bpp": factor * model_bpp, "options": baseline.options}
    try:
        match = match_rate(baseline, image, factor * model_bpp, cache)
        data = match.encoded.data
        start = time.perf_counter()
        reconstruction = baseline.decode(data)
        decode_s = time.perf_counter() - start
        if reconstruction.shape != image.shape:
            raise ValueError(f"decoded shape {reconstruction.shape} != {image.shape}")
    except (OSError, ValueError, RuntimeError, MemoryError) as e:  # a codec failing on one image
        entry["error"] = f"{type(e).__name__}: {e}"
        return entry, None
    entry.update({"reached": match.reached, "knob": baseline.knob, "setting": match.encoded.setting,
                  "encodes": match.encodes, "probes": match.probes,
                  **_sizes(len(data), baseline.payload_size(data), cache.pixels),
                  "encode_s": match.encoded.seconds, "decode_s": decode_s,
                  "metrics": _metrics(image, reconstruction, functions)})
    return entry, reconstruction


def _metric_keys(functions: dict[str, Callable]) -> set[str]:
    return {"psnr", "ms_ssim", "colour_bias", *functions}


def _model_entry_ok(record: Optional[dict], sha256: str, codec: Codec,
                    functions: dict[str, Callable]) -> bool:
    if not record or record.get("format") != FORMAT_VERSION:
        return False
    if record.get("image", {}).get("sha256") != sha256:
        return False
    model = record.get("model") or {}
    original = record.get("original") or {}
    return (model.get("name") == codec.name
            and _metric_keys(functions) <= set(model.get("metrics", {}))
            and set(functions) <= set(original))


def _baseline_entry_ok(entry: Optional[dict], baseline: codecs_module.BaselineCodec,
                       functions: dict[str, Callable]) -> bool:
    if not entry or entry.get("options") != baseline.options:
        return False
    return "error" in entry or _metric_keys(functions) <= set(entry.get("metrics", {}))


def _load_record(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # absent or unreadable: compute it again


def to_json(value: Any) -> str:
    return json.dumps(_clean(value), indent=1, allow_nan=False)


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return _finite(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass
class ImageOutcome:
    record: dict
    computed: bool
    reconstructions: dict[str, np.ndarray]  # "model", "jpeg@1", ... (only when computed)


def evaluate_image(source: ImageSource, image: np.ndarray, sha256: str, conversions: list[str],
                   previous: Optional[dict], codec: Codec,
                   baselines: list[codecs_module.BaselineCodec], factors: Sequence[float],
                   functions: dict[str, Callable], keep: bool) -> ImageOutcome:
    """One image's record: our model's entry and each baseline's, reusing what `previous`
    (the image's per_image/ record from an earlier run) already holds."""
    computed = False
    reconstructions: dict[str, np.ndarray] = {}
    if _model_entry_ok(previous, sha256, codec, functions):  # named as given this time
        record = {**previous, "image": {**previous["image"], "name": source.name,
                                        "path": source.recorded_path}}
    else:
        model_entry, reconstruction = _run_model(codec, image, functions)
        computed = True
        if keep:
            reconstructions["model"] = reconstruction
        record = {
            "format": FORMAT_VERSION,
            "image": {"name": source.name, "path": source.recorded_path, "key": source.key,
                      "sha256": sha256, "height": int(image.shape[0]),
                      "width": int(image.shape[1]), "conversions": conversions},
            "original": _nr_metrics(image, functions),
            "model": model_entry,
            "baselines": {},
        }
    model_bpp = record["model"]["bpp"]
    for baseline in baselines:
        done = record["baselines"].setdefault(baseline.name, {})
        cache = EncodeCache(baseline, image)
        for factor in factors:
            key = factor_key(factor)
            if _baseline_entry_ok(done.get(key), baseline, functions):
                continue
            entry, reconstruction = _run_baseline(baseline, cache, image, factor, model_bpp,
                                                  functions)
            done[key] = entry
            computed = True
            if keep and reconstruction is not None:
                reconstructions[f"{baseline.name}@{key}"] = reconstruction
    return ImageOutcome(record, computed, reconstructions)


def _reconstruct(record: dict, image: np.ndarray, codec: Codec,
                 baselines: list[codecs_module.BaselineCodec], factors: Sequence[float],
                 have: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Codes reused results again at their recorded settings, for crops not drawn before."""
    out = dict(have)
    if "model" not in out:
        out["model"] = _code_with_model(codec, image)[1]
    for baseline in baselines:
        for factor in factors:
            key = f"{baseline.name}@{factor_key(factor)}"
            entry = record["baselines"].get(baseline.name, {}).get(factor_key(factor), {})
            if key not in out and "setting" in entry:
                out[key] = baseline.decode(baseline.encode(image, entry["setting"]))
    return out


# ---------------------------------------------------------------------------------- the run


def run_info(codec: Codec, baselines: list[codecs_module.BaselineCodec],
             factors: Sequence[float], nr_names: Sequence[str]) -> dict[str, Any]:
    import tensorflow as tf

    info: dict[str, Any] = {
        "model": codec.name,
        "baselines": [b.name for b in baselines],
        "baseline_labels": {b.name: b.label for b in baselines},
        "baseline_options": {b.name: b.options for b in baselines},
        "bpp_factors": list(factors),
        "codec_versions": codecs_module.codec_versions(),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "metrics": {name: BETTER[name] + " is better" for name in ("psnr", "ms_ssim", *nr_names)},
        "psnr_cap_db": PSNR_CAP_DB,
        "notes": [
            codecs_module.BPG_NOTE,
            "bpp counts whole files (container + headers); payload_bpp counts only the coded "
            "data (mdat for AVIF/HEIC, the VP8 chunk for WebP, scan data for JPEG, tile-parts "
            "for JPEG 2000; the model's header_size()). Rate matching targets whole files.",
            "Each baseline is matched per image to the largest setting whose file is at or "
            "under factor x the model's bpp; 'reached': false means even its lowest setting "
            "is over the target, and that lowest setting is reported. 'encodes' counts the "
            "encoder calls of that search; searches for later factors reuse earlier encodes.",
            f"PSNR over RGB, capped at {PSNR_CAP_DB:g} dB (identical images). MS-SSIM over RGB "
            f"with TF's 5 scales; images under 161 px on a side use fewer (ms_ssim_scales, "
            f"weights renormalised).",
            "Encode/decode times are wall-clock seconds on this machine; the model's first "
            "image is encoded once untimed to exclude graph tracing.",
        ],
    }
    if "niqe" in nr_names:
        from tfgc.evaluation import niqe

        model = niqe.load_model()
        info["niqe_model"] = {k: v for k, v in model.info.items() if k != "files"}
        info["notes"].append(
            f"NIQE (lower is better) uses a pristine model fitted on: {model.info.get('set')}; "
            f"values are on a similar but not identical scale to published NIQE. Images under "
            f"96x96 px get no NIQE (null).")
    if "brisque" in nr_names:
        info["notes"].append(
            "BRISQUE (lower is better) reproduces the brisque 0.2.0 wheel's scores with its "
            "shipped model (not the original MATLAB BRISQUE; values can be negative).")
    return info


def evaluate(codec: Codec, images: Union[str, os.PathLike, Iterable[ImageInput]],
             out_dir: Optional[Union[str, os.PathLike]] = None,
             baselines: Sequence[str] = codecs_module.DEFAULT_BASELINES,
             bpp_factors: Sequence[float] = DEFAULT_FACTORS, *,
             nr_metrics: Sequence[str] = NR_METRICS, crops: int = DEFAULT_CROPS,
             limit: Optional[int] = None, progress: bool = True, resume: bool = True,
             log: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Evaluates `codec` against rate-matched classical codecs and returns the results dict.

    With `out_dir`, also writes results.json, results.md, rd.png, crops/ and per_image/ there
    (and reuses per_image/ on a rerun unless resume=False). `images` is a folder, glob or file,
    or a sequence of paths, uint8 [H, W, 3] arrays or (name, array) pairs.
    """
    from tqdm.auto import tqdm

    started = datetime.datetime.now(datetime.timezone.utc)
    baseline_codecs = codecs_module.get_baselines(baselines)
    factors = check_factors(bpp_factors)
    functions = nr_functions([n.strip().lower() for n in nr_metrics])
    sources = collect_sources(images, limit)
    out = os.fspath(out_dir) if out_dir is not None else None
    if out is not None:
        _check_writable(out)
    say = log or (lambda message: tqdm.write(message))

    records: list[dict] = []
    skipped: list[dict] = []
    write_errors: list[dict] = []
    crop_files: list[str] = []
    warmed_up = False
    counts = {"evaluated": 0, "reused": 0}
    bar = tqdm(sources, desc="evaluate", unit="image", disable=not progress)
    for source in bar:
        bar.set_postfix_str(source.name[-30:])
        record_path = os.path.join(out, "per_image", f"{source.key}.json") if out else None
        try:
            image, sha256, conversions = _read(source)
        except ImageReadError as e:
            skipped.append({"image": source.name, "path": source.recorded_path,
                            "error": str(e)})
            say(f"skipped {source.name}: {e}")
            continue
        previous = _load_record(record_path) if (record_path and resume) else None
        wants_crop = out is not None and len(crop_files) < crops
        crop_path = os.path.join(out, "crops", f"{source.key}.png") if wants_crop else None
        try:
            if not warmed_up and not _model_entry_ok(previous, sha256, codec, functions):
                _code_with_model(codec, image)  # graph tracing stays out of the timings
                warmed_up = True
            outcome = evaluate_image(source, image, sha256, conversions, previous, codec,
                                     baseline_codecs, factors, functions, keep=wants_crop)
            record = outcome.record
            counts["evaluated" if outcome.computed else "reused"] += 1
            target = record_path
            try:  # the results stay in memory (and in results.json) if this file fails
                if record_path and outcome.computed:
                    write_text_atomic(record_path, to_json(record))
                target = crop_path
                if crop_path:
                    if outcome.computed or not os.path.exists(crop_path):
                        from tfgc.evaluation.crops import write_crops

                        reconstructions = _reconstruct(record, image, codec, baseline_codecs,
                                                       factors, outcome.reconstructions)
                        write_crops(crop_path, image, record, reconstructions, baseline_codecs,
                                    factors)
                    crop_files.append(os.path.relpath(crop_path, out))
            except OSError as e:
                below_out = os.path.relpath(target, out)  # results name no local folders
                write_errors.append({"image": source.name, "path": below_out,
                                     "error": f"cannot write {below_out}: {e.strerror or e}"})
                say(f"error: {source.name}: cannot write {target}: {e.strerror or e}")
        except ModelFailure as e:
            skipped.append({"image": source.name, "path": source.recorded_path,
                            "error": str(e)})
            say(f"skipped {source.name}: {e}")
            continue
        records.append(_clean(record))
    bar.close()

    results = assemble_results(codec, baseline_codecs, factors, list(functions), records,
                               skipped, write_errors, crop_files, started, counts)
    if out:
        try:
            write_outputs(out, results)
        except OSError as e:
            raise OutputError(f"cannot write the results into {out}: "
                              f"{e.strerror or e}") from None
    return results


def assemble_results(codec: Codec, baselines: list[codecs_module.BaselineCodec],
                     factors: Sequence[float], nr_names: Sequence[str], records: list[dict],
                     skipped: list[dict], write_errors: list[dict], crop_files: list[str],
                     started: datetime.datetime, counts: dict[str, int]) -> dict[str, Any]:
    """The results dict (results.json) of a run whose per-image records are all in."""
    from tfgc.evaluation.report import summarize

    info = run_info(codec, baselines, factors, nr_names)
    info.update({"started": started.isoformat(timespec="seconds"),
                 "finished": datetime.datetime.now(datetime.timezone.utc)
                 .isoformat(timespec="seconds"),
                 "images": len(records), "skipped": len(skipped),
                 "write_errors": len(write_errors), **counts})
    results = {"format": FORMAT_VERSION, "run": info,
               "summary": summarize(records, baselines, factors, nr_names),
               "images": records, "skipped": skipped, "write_errors": write_errors,
               "crops": crop_files}
    return _clean(results)


def _check_writable(out: str) -> None:
    """Fails before any work when the results folder cannot be created or written."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the results folder {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"cannot write into the results folder {out}: it is read-only")


def check_factors(factors: Sequence[float]) -> list[float]:
    checked: list[float] = []
    for factor in factors:
        value = float(factor)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"bpp factors must be positive numbers, got {factor!r}")
        if value not in checked:
            checked.append(value)
    if not checked:
        raise ConfigError("give at least one bpp factor (e.g. 1,2)")
    return checked


def write_outputs(out: str, results: dict) -> None:
    from tfgc.evaluation.plots import write_rd_plot
    from tfgc.evaluation.report import markdown

    write_text_atomic(os.path.join(out, "results.json"), to_json(results))
    write_text_atomic(os.path.join(out, "results.md"), markdown(results))
    if results["images"]:
        write_rd_plot(os.path.join(out, "rd.png"), results)
