"""PNG plots: of one case (accuracy-matrix heatmap, per-task curves, per-class IoU bars) and across cases (a
labelled scatter of two values, grouped bars per task; controller/report/comparison.py chooses what).

matplotlib is imported lazily inside each function and drawn through the Agg canvas directly
(no pyplot), so importing this module is cheap and no process-global backend is switched.
Files are written atomically (temp + rename) under deterministic names (see the ``*_filename``
helpers), so re-drawing a case overwrites its pictures instead of piling up new ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller import fsio
from controller.report.table import format_number
from controller.results import AccuracyMatrix

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

PER_CLASS_FILENAME = "per-class-iou.png"
DPI = 100
MISSING_COLOR = "#d9d9d9"


def heatmap_filename(metric: str) -> str:
    """``<metric>-heatmap.png`` (Ianvs's name), the metric reduced to filename-safe characters."""
    return f"{_safe(metric)}-heatmap.png"


def curves_filename(metric: str) -> str:
    return f"{_safe(metric)}-task-curves.png"


def stage_labels(matrix: AccuracyMatrix, prefix: str = "after round") -> list[str]:
    """["baseline", "<prefix> 1", ..., "<prefix> T"]: the rows of the heatmap / x ticks of the curves."""
    return ["baseline"] + [f"{prefix} {i}" for i in range(1, len(matrix.values) + 1)]


def matrix_heatmap(matrix: AccuracyMatrix, path: Path) -> Path:
    """Heatmap of [baseline; R]: rows "baseline", "after round 1..T", columns = tasks, cells annotated.

    Cells with no value (None/NaN) are grey and read "n/a". Scores that all lie in [0, 1] (mIoU,
    accuracy) use the fixed scale 0..1, so tiny differences do not look like large ones; other
    metrics span their finite values.
    """
    grid = _stage_grid(matrix)
    import numpy as np
    from matplotlib import colormaps

    data = np.ma.masked_invalid(np.array(grid, dtype=float))
    finite = data.compressed()
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if 0.0 <= vmin and vmax <= 1.0:
        vmin, vmax = 0.0, 1.0
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    cmap = colormaps["viridis"].with_extremes(bad=MISSING_COLOR)

    n_rows, n_cols = len(grid), len(matrix.tasks)
    fig = _figure(width=max(4.5, 1.3 * n_cols + 2.5), height=max(3.0, 0.55 * n_rows + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            missing = math.isnan(value)
            shade = 0.0 if missing else (value - vmin) / (vmax - vmin)
            ax.text(
                j,
                i,
                "n/a" if missing else format_number(value),
                ha="center",
                va="center",
                fontsize=8,
                color="black" if missing or shade > 0.55 else "white",
            )
    ax.set_xticks(range(n_cols), labels=matrix.tasks, rotation=30, ha="right")
    ax.set_yticks(range(n_rows), labels=stage_labels(matrix))
    ax.set_xlabel("task (test split)")
    ax.set_title(f"Accuracy matrix: {matrix.metric}")
    fig.colorbar(image, ax=ax, label=matrix.metric)
    return _save(fig, path)


def task_curves(matrix: AccuracyMatrix, path: Path) -> Path:
    """One line per task: the metric on that task at baseline and after each round 1..T (gaps where missing)."""
    grid = _stage_grid(matrix)
    stages = stage_labels(matrix, prefix="round")
    fig = _figure(width=max(5.0, 0.9 * len(stages) + 3.0), height=4.0)
    ax = fig.add_subplot()
    for j, task in enumerate(matrix.tasks):
        ax.plot(range(len(stages)), [row[j] for row in grid], marker="o", label=task)
    ax.set_xticks(range(len(stages)), labels=stages)
    ax.set_xlabel("stage")
    ax.set_ylabel(matrix.metric)
    ax.set_title(f"{matrix.metric} per task by stage")
    ax.grid(True, alpha=0.3)
    if matrix.tasks:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="task")
    return _save(fig, path)


def per_class_bars(per_class: Mapping[str, float | None], path: Path) -> Path:
    """IoU bar per class in the given order; classes without a value (None/NaN) show "absent", no bar.

    The title gives the mean over the present classes (mIoU = sum IoU_c / |present|).
    """
    names = list(per_class)
    values = [_float_or_nan(per_class[name]) for name in names]
    present = [v for v in values if not math.isnan(v)]
    top = max([1.0, *present]) * 1.1
    fig = _figure(width=max(5.0, 0.45 * len(names) + 2.0), height=4.0)
    ax = fig.add_subplot()
    xs = [i for i, v in enumerate(values) if not math.isnan(v)]
    ax.bar(xs, [values[i] for i in xs], color="#3b7dd8")
    for i, value in enumerate(values):
        if math.isnan(value):
            ax.text(i, top * 0.02, "absent", rotation=90, ha="center", va="bottom", fontsize=7, color="#888888")
    ax.set_xticks(range(len(names)), labels=names, rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.6, max(len(names), 1) - 0.4)
    ax.set_ylim(0, top)
    ax.set_ylabel("IoU")
    mean = (
        f"{format_number(sum(present) / len(present))} over {len(present)} present classes"
        if present
        else "no class present"
    )
    ax.set_title(f"Per-class IoU (mean {mean})")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def labelled_scatter(points: Sequence[tuple[str, float, float]], x: str, y: str, title: str, path: Path) -> Path:
    """One labelled point per case: ``(label, x, y)``."""
    fig = _figure(width=6.0, height=4.5)
    ax = fig.add_subplot()
    for index, (label, px, py) in enumerate(points):
        ax.scatter([px], [py], s=40, color=_colour(index), zorder=3)
        ax.annotate(label, (px, py), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.margins(0.2)
    return _save(fig, path)


def grouped_bars(rows: Mapping[str, Mapping[str, float | None]], metric: str, title: str, path: Path) -> Path:
    """Tasks along x, one bar per case (``rows[case][task]``) side by side; a missing value has no bar."""
    tasks = list(dict.fromkeys(task for values in rows.values() for task in values))
    width = 0.8 / max(len(rows), 1)
    fig = _figure(width=max(5.0, 1.0 * len(tasks) * max(1, len(rows)) * 0.5 + 3.0), height=4.0)
    ax = fig.add_subplot()
    for index, (case, values) in enumerate(rows.items()):
        xs = [t + (index - (len(rows) - 1) / 2) * width for t in range(len(tasks))]
        heights = [_float_or_nan(values.get(task)) for task in tasks]
        ax.bar(xs, heights, width=width, label=case, color=_colour(index))
    ax.set_xticks(range(len(tasks)), labels=tasks)
    ax.set_xlabel("task")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="case")
    return _save(fig, path)


def picture_rows(rows: Sequence[tuple[str, Any, Any, Any]], columns: Sequence[str], title: str, path: Path) -> Path:
    """A grid of pictures (HxWx3 uint8): one row per ``(caption, *pictures)``, a heading per column."""
    height, width = rows[0][1].shape[:2]
    scale = 3.2 / max(width, 1)
    fig = _figure(width=3.3 * len(columns), height=max(1.5, (height * scale + 0.45) * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    for r, (caption, *pictures) in enumerate(rows):
        for c, picture in enumerate(pictures):
            ax = axes[r][c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(caption, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------------


def _colour(index: int) -> str:
    from matplotlib import colormaps

    return _hex(colormaps["tab10"](index % 10))


def _hex(rgba: Any) -> str:
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in rgba[:3])


def _stage_grid(matrix: AccuracyMatrix) -> list[list[float]]:
    """[baseline] + values as floats (NaN for missing), after checking every row has one value per task."""
    n = len(matrix.tasks)
    if len(matrix.baseline) != n:
        raise ValueError(
            f"accuracy matrix {matrix.metric!r}: baseline has {len(matrix.baseline)} values, expected {n} (one per task)"
        )
    for i, row in enumerate(matrix.values, start=1):
        if len(row) != n:
            raise ValueError(
                f"accuracy matrix {matrix.metric!r}: round {i} has {len(row)} values, expected {n} (one per task)"
            )
    return [[_float_or_nan(v) for v in row] for row in [matrix.baseline, *matrix.values]]


def _float_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with fsio.atomic_file(path) as handle:
        fig.savefig(handle, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "metric"
