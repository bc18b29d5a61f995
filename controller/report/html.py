"""``<job_dir>/report/index.html``: one self-contained page per job.

Self-contained means it can be mailed or archived alone: CSS is inline and every plot is a PNG
embedded as a ``data:image/png;base64,...`` URI; the page references no external URL. Every value
that comes from results is HTML-escaped by Jinja's autoescape (errors can contain markup).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.report.rank import Leaderboard, hyperparameter_text, sort_legend, write_text_atomic
from controller.report.table import format_cell
from controller.results import CaseResult

log = logging.getLogger(__name__)

REPORT_DIR = "report"
REPORT_FILE = "index.html"
TEMPLATE = "report.html.j2"


@dataclass
class Plot:
    title: str
    data_uri: str = ""
    error: str = ""


@dataclass
class ComparisonView:
    title: str
    better: str
    data_uri: str = ""
    left_out: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Grid:
    """A small table for the template: header + rows of already formatted cells."""

    columns: list[str]
    rows: list[list[str]]


@dataclass
class CaseView:
    anchor: str
    result: CaseResult
    modules: list[tuple[str, str]]
    hyperparameters: list[tuple[str, str]]
    metrics: list[tuple[str, str]]
    timing: list[tuple[str, str]]
    plots: list[Plot] = field(default_factory=list)
    per_task: Grid | None = None
    rounds: Grid | None = None
    provenance: list[tuple[str, str]] = field(default_factory=list)


def write_html_report(job_dir: Path, leaderboard: Leaderboard, results: list[CaseResult]) -> Path:
    """Render the job's report (leaderboard + one section per result) and return its path."""
    job_dir = Path(job_dir)
    anchors = {result.case_id: _anchor(result.case_id) for result in results}
    columns, rows = leaderboard.view()
    columns = with_efficiency(columns, rows)
    context = {
        "title": f"ianvs-lab report: {job_dir.name}",
        "generated": datetime.now().astimezone().isoformat(timespec="seconds"),
        "legend": sort_legend(leaderboard.sort_keys),
        "columns": columns,
        "rows": [_board_row(columns, row, anchors) for row in rows],
        "cases": [_case_view(result, anchors[result.case_id]) for result in results],
        "comparisons": _comparisons(results),
        "samples": _samples(rows, results),
    }
    html = _environment().get_template(TEMPLATE).render(**context)
    return write_text_atomic(job_dir / REPORT_DIR / REPORT_FILE, html)


def with_efficiency(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's leaderboard shows what each case cost next to its accuracy: every efficiency column with a value
    that ``selected_dataitem`` left out, after the chosen metrics (the CSVs keep exactly the selection)."""
    from controller.results import EFFICIENCY_METRICS

    extra = [
        name
        for name in EFFICIENCY_METRICS
        if name not in columns and any(row.get(name) not in (None, "") for row in rows)
    ]
    at = columns.index("paradigm") if "paradigm" in columns else len(columns)
    return [*columns[:at], *extra, *columns[at:]]


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # the template is *.html.j2, which select_autoescape would not recognise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _anchor(case_id: str) -> str:
    return "case-" + re.sub(r"[^A-Za-z0-9_-]+", "-", case_id)


def _board_row(columns: Sequence[str], row: Mapping[str, Any], anchors: Mapping[str, str]) -> dict[str, Any]:
    return {
        "cells": [(column, format_cell(row.get(column))) for column in columns],
        "failed": row.get("status", "ok") != "ok",
        "anchor": anchors.get(row.get("case_id", "")),
    }


def _case_view(result: CaseResult, anchor: str) -> CaseView:
    return CaseView(
        anchor=anchor,
        result=result,
        modules=[(k, str(v)) for k, v in result.modules.items()],
        hyperparameters=[(k, hyperparameter_text(v)) for k, v in result.hyperparameters.items()],
        metrics=[(k, _text(v)) for k, v in result.metrics.items()],
        timing=[
            (k, _text(v))
            for k, v in (
                ("started", result.started),
                ("finished", result.finished),
                ("duration_s", result.duration_s),
                ("case_dir", result.case_dir),
                ("algorithm_url", result.algorithm_url),
            )
            if v is not None
        ],
        plots=_plots(result),
        per_task=_per_task_grid(result.per_task),
        rounds=_rounds_grid(result.rounds),
        provenance=list(flatten(result.provenance).items()),
    )


def _text(value: Any) -> str:
    """Like a table cell, but containers keep their JSON structure readable."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return format_cell(value)


def _plots(result: CaseResult) -> list[Plot]:
    from controller.report import plots

    wanted: list[tuple[str, Callable[[Path], Path]]] = []
    if result.matrix is not None:
        matrix = result.matrix
        wanted.append((f"Accuracy matrix ({matrix.metric})", lambda p: plots.matrix_heatmap(matrix, p)))
        wanted.append((f"{matrix.metric} per task", lambda p: plots.task_curves(matrix, p)))
    if result.per_class:
        wanted.append(("Per-class IoU", lambda p: plots.per_class_bars(result.per_class, p)))
    out = []
    with tempfile.TemporaryDirectory(prefix="ianvs-report-") as tmp:
        for index, (title, draw) in enumerate(wanted):
            try:
                png = draw(Path(tmp) / f"{index}.png").read_bytes()
            except ValueError as exc:
                log.warning("case %s: plot %r not drawn: %s", result.case_id, title, exc)
                out.append(Plot(title=title, error=str(exc)))
                continue
            out.append(Plot(title=title, data_uri=_data_uri(png)))
    return out


def _comparisons(results: list[CaseResult]) -> list[ComparisonView]:
    """The plots across cases (controller/report/comparison.py), embedded; none for a job of one case."""
    from controller.report.comparison import comparisons

    if sum(result.ok for result in results) < 2:
        return []
    with tempfile.TemporaryDirectory(prefix="ianvs-report-") as tmp:
        return [
            ComparisonView(
                drawn.title,
                drawn.better,
                _data_uri(drawn.png.read_bytes()) if drawn.png else "",
                drawn.left_out,
                drawn.reason,
            )
            for drawn in comparisons(results, Path(tmp))
        ]


def _samples(rows: Sequence[Mapping[str, Any]], results: list[CaseResult]) -> list[ComparisonView]:
    """The kept test samples of the best and the worst finished case, in leaderboard order."""
    from controller.report.qualitative import samples_figure

    finished = {result.case_id: result for result in results if result.ok}
    ranked = list(dict.fromkeys(row["case_id"] for row in rows if row.get("case_id") in finished))
    picks = [("best", ranked[0])] + ([("worst", ranked[-1])] if len(ranked) > 1 else []) if ranked else []
    views = []
    with tempfile.TemporaryDirectory(prefix="ianvs-report-") as tmp:
        for rank, case_id in picks:
            result = finished[case_id]
            title = f"{rank}: {result.algorithm} ({case_id})"
            caption = "image, ground truth, prediction (Cityscapes colours); the same test samples for every case"
            if not result.case_dir:
                views.append(ComparisonView(title, caption, reason="the case has no folder on this machine"))
                continue
            try:
                png = samples_figure(Path(result.case_dir), title, Path(tmp) / f"{rank}.png").read_bytes()
            except ValueError as exc:
                views.append(ComparisonView(title, caption, reason=str(exc)))
                continue
            views.append(ComparisonView(title, caption, _data_uri(png)))
    return views


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _per_task_grid(per_task: Mapping[str, Mapping[str, Any]]) -> Grid | None:
    if not per_task:
        return None
    metrics = list(dict.fromkeys(m for values in per_task.values() for m in values))
    rows = [[task] + [_text(values.get(m)) for m in metrics] for task, values in per_task.items()]
    return Grid(["task", *metrics], rows)


def _rounds_grid(rounds: Sequence[Mapping[str, Any]]) -> Grid | None:
    """The rounds log as a table whose columns are the union of the entries' keys, in first-seen order."""
    if not rounds:
        return None
    keys = list(dict.fromkeys(k for entry in rounds for k in entry))
    return Grid(keys, [[_text(entry.get(k)) for k in keys] for entry in rounds])


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted keys: {"git": {"sha": "x"}} -> {"git.sha": "x"}; other values as text."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = _text(value)
    return flat
