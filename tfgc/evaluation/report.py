"""Mean tables over images: the `summary` block of results.json and the results.md report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from tfgc.evaluation.codecs import BaselineCodec
from tfgc.evaluation.runner import BETTER, factor_key

TABLE_METRICS = ("psnr", "ms_ssim", "niqe", "brisque")
_HEADINGS = {"psnr": "PSNR dB ↑", "ms_ssim": "MS-SSIM ↑", "niqe": "NIQE ↓", "brisque": "BRISQUE ↓"}


def _mean(values: list[Optional[float]]) -> Optional[float]:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _row(codec: str, label: str, factor: Optional[float], entries: list[dict],
         nr_names: Sequence[str], errors: int = 0) -> dict[str, Any]:
    metrics = ("psnr", "ms_ssim", *nr_names)
    row: dict[str, Any] = {"codec": codec, "label": label, "factor": factor,
                           "images": len(entries), "errors": errors}
    for key in ("bpp", "payload_bpp", "target_bpp", "encode_s", "decode_s", "encodes"):
        values = [e.get(key) for e in entries]
        if any(v is not None for v in values):
            row[key] = _mean(values)
    for name in metrics:
        row[name] = _mean([e["metrics"].get(name) for e in entries])
    if factor is not None:
        row["not_reached"] = sum(1 for e in entries if not e["reached"])
    return row


def summarize(records: list[dict], baselines: Sequence[BaselineCodec], factors: Sequence[float],
              nr_names: Sequence[str]) -> dict[str, Any]:
    """Means per codec (and factor) over the images each codec coded without error."""
    rows: list[dict[str, Any]] = []
    if nr_names and records:  # how natural the originals look, the floor for NIQE/BRISQUE
        rows.append({"codec": "original", "label": "original (uncompressed)", "factor": None,
                     "images": len(records), "errors": 0,
                     **{name: _mean([r["original"].get(name) for r in records])
                        for name in nr_names}})
    if records:
        rows.append(_row("ours", records[0]["model"]["name"], None,
                         [r["model"] for r in records], nr_names))
    for baseline in baselines:
        for factor in factors:
            key = factor_key(factor)
            entries = [r["baselines"].get(baseline.name, {}).get(key) for r in records]
            present = [e for e in entries if e]
            good = [e for e in present if "error" not in e]
            rows.append(_row(baseline.name, baseline.label, factor, good, nr_names,
                             errors=len(present) - len(good)))
    scales = sorted({r["model"]["metrics"].get("ms_ssim_scales") for r in records} - {None})
    return {"rows": rows, "images": len(records), "ms_ssim_scales": scales,
            "better": {name: BETTER[name] for name in ("psnr", "ms_ssim", *nr_names)}}


def _fmt(value: Optional[float], digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    run, summary = results["run"], results["summary"]
    nr_names = [m for m in ("niqe", "brisque") if m in run["metrics"]]
    metrics = [m for m in TABLE_METRICS if m in ("psnr", "ms_ssim") or m in nr_names]
    lines = [
        f"# Evaluation of `{run['model']}` against classical codecs",
        "",
        f"{run['images']} images evaluated ({run.get('evaluated', 0)} computed now, "
        f"{run.get('reused', 0)} reused from per_image/), {run['skipped']} skipped; "
        f"finished {run['finished']}. Baselines are rate-matched per image to "
        f"{', '.join(f'{f:g}x' for f in run['bpp_factors'])} the model's bpp.",
        "",
        "Means over images. ↑ higher is better, ↓ lower is better (NIQE and BRISQUE are "
        "no-reference naturalness scores: lower is better). bpp counts whole files; "
        "payload bpp leaves out containers and headers. *not reached*: images where even the "
        "codec's lowest setting is over the target (its lowest setting is then reported).",
        "",
    ]
    head = (["codec", "factor", "bpp", "payload bpp"] + [_HEADINGS[m] for m in metrics]
            + ["encode s", "decode s", "not reached", "encodes"])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary["rows"]:
        factor = "" if row["factor"] is None else f"{row['factor']:g}x"
        label = row["label"] if row["codec"] != "ours" else f"**ours** ({row['label']})"
        if row.get("errors"):
            label += f" ({row['errors']} errors)"
        cells = [label, factor, _fmt(row.get("bpp"), 4), _fmt(row.get("payload_bpp"), 4)]
        cells += [_fmt(row.get(m), 4 if m == "ms_ssim" else 2) for m in metrics]
        cells += [_fmt(row.get("encode_s"), 3), _fmt(row.get("decode_s"), 3)]
        cells += ["" if row["factor"] is None else f"{row['not_reached']}/{row['images']}",
                  _fmt(row.get("encodes"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Notes", ""] + [f"- {note}" for note in run["notes"]]
    versions = ", ".join(v if v.lower().startswith(k.lower()) else f"{k} {v}"
                         for k, v in run["codec_versions"].items())
    lines += [f"- Codec versions: {versions}; TensorFlow {run['tensorflow']}; {run['machine']}.",
              f"- MS-SSIM scales used: {summary['ms_ssim_scales']}.", ""]
    if results["images"]:
        lines += ["![rate-distortion](rd.png)", ""]
    if results.get("crops"):
        lines += ["## Crops", ""] + [f"- [{path}]({path})" for path in results["crops"]] + [""]
    if results["skipped"]:
        lines += ["## Skipped images", ""]
        lines += [f"- `{item['image']}`: {item['error']}" for item in results["skipped"]] + [""]
    return "\n".join(lines)
