"""rd.png: mean bpp against each metric, one curve per baseline (over factors), a star for ours.

Uses matplotlib's object API with the Agg canvas, never pyplot, so it neither needs a display
nor changes the backend of a notebook that calls `evaluate`.
"""

from __future__ import annotations

import io
import os
import textwrap
from typing import Any

from tfgc.utils.files import write_bytes_atomic

_TITLES = {"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "niqe": "NIQE", "brisque": "BRISQUE"}


def rd_plot_title(results: dict[str, Any], width_inches: float) -> str:
    """What the figure shows, wrapped to its width (about 11 characters per inch at the
    title's size) so that a long model name or a one-metric figure is not cut off at the
    edges; the baselines and the hollow-marker key only when the figure has them."""
    rows = results["summary"]["rows"]
    title = (results["run"]["model"]
             + (" vs classical codecs" if any(r["factor"] is not None for r in rows) else "")
             + f", mean over {results['run']['images']} images"
             + (" (hollow: target not reached on some)"
                if any(r.get("not_reached") for r in rows) else ""))
    return textwrap.fill(title, width=int(11 * width_inches))


def render_rd_plot(results: dict[str, Any]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = results["summary"]["rows"]
    better = results["summary"]["better"]
    metrics = [m for m in ("psnr", "ms_ssim", "niqe", "brisque") if m in better]
    figure = Figure(figsize=(4.3 * len(metrics), 4.4), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    codecs = [r["codec"] for r in rows if r["factor"] is not None]
    codecs = list(dict.fromkeys(codecs))
    for axis, metric in zip(axes, metrics):
        for codec in codecs:
            points = sorted((r["bpp"], r[metric]) for r in rows if r["codec"] == codec
                            and r.get("bpp") is not None and r.get(metric) is not None)
            if points:
                label = next(r["label"] for r in rows if r["codec"] == codec)
                (line,) = axis.plot(*zip(*points), marker="o", label=label)
                missed = [(r["bpp"], r[metric]) for r in rows if r["codec"] == codec
                          and r.get("not_reached") and r.get(metric) is not None]
                if missed:  # hollow: the target was out of reach on some images
                    axis.plot(*zip(*missed), marker="o", linestyle="none", color="white",
                              markeredgecolor=line.get_color(), markersize=7)
        for row in rows:
            if row["codec"] == "ours" and row.get(metric) is not None:
                axis.plot([row["bpp"]], [row[metric]], marker="*", markersize=16, color="black",
                          linestyle="none", label=f"ours ({row['label']})")
            if row["codec"] == "original" and row.get(metric) is not None:
                axis.axhline(row[metric], color="gray", linestyle="--", linewidth=1,
                             label="original")
        arrow = "↑" if better[metric] == "higher" else "↓"
        axis.set_title(f"{_TITLES[metric]} ({better[metric]} is better {arrow})")
        axis.set_xlabel("bits per pixel (whole file)")
        axis.grid(True, alpha=0.3)
    handles: dict[str, Any] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(list(handles.values()), list(handles), loc="lower center",
                  ncol=min(len(handles), 8), fontsize=9, frameon=False)
    figure.suptitle(rd_plot_title(results, figure.get_figwidth()))
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_rd_plot(path: str | os.PathLike, results: dict[str, Any]) -> None:
    write_bytes_atomic(path, render_rd_plot(results))
