"""The report's opening comparisons across a job's test cases: what the trade-offs look like, not each case alone.

    accuracy vs forgetting   ACC against BWT (GEM): better is up (more accurate) and right (less forgetting)
    accuracy vs latency      mIoU against the median inference latency per sample: better is up and left
    accuracy vs memory       mIoU against the case's peak resident memory: better is up and left
    per task                 the accuracy-matrix metric on each task after the last round, the cases side by side

Only finished cases are compared. A case without one of a plot's values is left out of that plot and named under
it; a plot no case can fill is not drawn, with the reason. Each point is labelled with its case (the algorithm,
and its case id when the algorithm has several rows).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.report import plots
from controller.results import CaseResult


@dataclass(frozen=True)
class Scatter:
    title: str
    x: str
    y: str
    better: str
    """what better looks like, said under the plot"""


SCATTERS = (
    Scatter("Accuracy vs forgetting", "BWT", "ACC", "better: up (higher ACC) and to the right (BWT near or above 0)"),
    Scatter("Accuracy vs latency", "latency_p50_ms", "mIoU", "better: up (higher mIoU) and to the left (faster)"),
    Scatter("Accuracy vs memory", "peak_rss_mib", "mIoU", "better: up (higher mIoU) and to the left (less memory)"),
)
PER_TASK_BETTER = "better: taller bars; a case whose bars drop on early tasks forgot them"


@dataclass(frozen=True)
class Comparison:
    title: str
    better: str
    png: Path | None
    """the drawn plot, None when no case has its values"""
    left_out: tuple[str, ...] = ()
    """cases without the plot's values"""
    reason: str = ""
    """why the plot was not drawn"""


def case_labels(results: Sequence[CaseResult]) -> dict[str, str]:
    """``case_id -> label``: the algorithm's name, with the case id when the algorithm has several cases."""
    counts = Counter(result.algorithm for result in results)
    return {r.case_id: r.algorithm if counts[r.algorithm] == 1 else f"{r.algorithm} ({r.case_id[:6]})" for r in results}


def value(result: CaseResult, name: str) -> float | None:
    """A metric or an efficiency figure by name; None when absent or not finite."""
    found = result.metrics.get(name, result.efficiency.get(name))
    if isinstance(found, bool) or not isinstance(found, (int, float)) or not math.isfinite(found):
        return None
    return float(found)


def comparisons(results: Sequence[CaseResult], folder: Path) -> list[Comparison]:
    """The comparison plots of ``results`` drawn into ``folder`` (finished cases only)."""
    finished = [result for result in results if result.ok]
    labels = case_labels(finished)
    drawn = [_scatter(spec, finished, labels, folder) for spec in SCATTERS]
    drawn.append(_per_task(finished, labels, folder))
    return drawn


def _scatter(spec: Scatter, results: Sequence[CaseResult], labels: dict[str, str], folder: Path) -> Comparison:
    points, left_out = [], []
    for result in results:
        x, y = value(result, spec.x), value(result, spec.y)
        if x is None or y is None:
            left_out.append(labels[result.case_id])
        else:
            points.append((labels[result.case_id], x, y))
    if not points:
        return Comparison(spec.title, spec.better, None, tuple(left_out), f"no finished case has {spec.x} and {spec.y}")
    path = plots.labelled_scatter(points, spec.x, spec.y, spec.title, folder / f"compare-{spec.x}-{spec.y}.png")
    return Comparison(spec.title, spec.better, path, tuple(left_out))


def _per_task(results: Sequence[CaseResult], labels: dict[str, str], folder: Path) -> Comparison:
    title = "Per task, after the last round"
    rows: dict[str, dict[str, float | None]] = {}
    metric, left_out = "", []
    for result in results:
        matrix = result.matrix
        if matrix is None or not matrix.values:
            left_out.append(labels[result.case_id])
            continue
        metric = metric or matrix.metric
        rows[labels[result.case_id]] = dict(zip(matrix.tasks, matrix.values[-1], strict=True))
    if not rows:
        return Comparison(title, PER_TASK_BETTER, None, tuple(left_out), "no finished case has an accuracy matrix")
    path = plots.grouped_bars(rows, metric, f"{metric} per task after the last round", folder / "compare-per-task.png")
    return Comparison(f"{title} ({metric})", PER_TASK_BETTER, path, tuple(left_out))
