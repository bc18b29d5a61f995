"""Publish a job's story: leaderboard CSVs, markdown, the printed table and the HTML report.

Reads every stored ``<job>/<case-id>/result.json`` (this run's and earlier runs'), so the
leaderboard of a workspace accumulates across runs; a case run again replaces its own row.
"""

from __future__ import annotations

import logging
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.rank import RankConfig
from controller.report.html import write_html_report
from controller.report.markdown import write_markdown
from controller.report.rank import ALL_RANK_FILE, RANK_DIR, Leaderboard, update_leaderboard
from controller.report.table import format_cell, format_table
from controller.results import CaseResult, asked_metrics, read_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    table: str
    all_rank: Path
    markdown: Path
    html: Path


def stored_results(job_dir: Path) -> list[CaseResult]:
    """Every result of the job's workspace; ResultError (naming the file) for one that cannot be trusted, e.g.
    ok without the metrics its own testenv (spec.json) asks for: a blank row would rank a case that never ran."""
    results = []
    for folder in sorted(p for p in job_dir.iterdir() if p.is_dir()):
        result = read_result(folder, asked_metrics(folder))
        if result is not None:
            results.append(result)
    return results


def publish(job_dir: Path, rank: RankConfig) -> Published:
    results = stored_results(job_dir)
    board = update_leaderboard(job_dir, results, rank)
    markdown = write_markdown(job_dir, board)
    # case sections follow the leaderboard's order
    position = {row.get("case_id"): i for i, row in enumerate(board.rows)}
    results.sort(key=lambda r: position.get(r.case_id, len(position)))
    html = write_html_report(job_dir, board, results)
    return Published(console_table(board), job_dir / RANK_DIR / ALL_RANK_FILE, markdown, html)


HYPERPARAMETERS = "hyperparameters"
TERMINAL_FALLBACK = (120, 24)
"""The width assumed where none can be read (output to a file or a pipe, CI logs)."""


def console_table(board: Leaderboard, width: int | None = None) -> str:
    """The ranking as a terminal shows it: rank, algorithm, what tells an algorithm's rows apart, how a case ended
    when one did not finish well, then the chosen metrics, as many as fit in ``width`` (the terminal's).

    Module classes, paths, times and hyper-parameter columns stay in the CSV files and the HTML report, which keep
    every column; a last line names what did not fit.
    """
    width = width or shutil.get_terminal_size(TERMINAL_FALLBACK).columns
    columns, rows = board.view()
    rows = [dict(row) for row in rows]
    distinguishing = _fold_hyperparameters(rows, board.hyperparameter_columns)
    dropped = {"url", "time", "paradigm", *board.module_columns, *board.hyperparameter_columns}
    if all(row.get("status", "ok") == "ok" for row in rows):
        dropped |= {"status", "error"}
    leading = [
        "rank",
        "algorithm",
        *([HYPERPARAMETERS] if distinguishing else []),
        *[c for c in ("status", "error") if c in columns and c not in dropped],
    ]
    rest = [c for c in columns if c not in dropped and c not in leading]
    shown = [c for c in leading if c in columns or c == HYPERPARAMETERS] + rest
    table = format_table(shown, rows)
    while len(shown) > 2 and _widest(table) > width:
        shown.pop()
        table = format_table(shown, rows)
    left_out = [c for c in rest if c not in shown]
    if left_out:
        names = ", ".join(left_out)
        footer = f"{len(left_out)} more column{'s'[: len(left_out) != 1]} in the CSV files and the report: {names}"
        table += "\n" + textwrap.fill(footer, width=max(width, 20))
    return table


def _fold_hyperparameters(rows: list[dict[str, Any]], columns: list[str]) -> bool:
    """Give rows of an algorithm that has several a ``hyperparameters`` cell with the values that differ between
    them (``learning_rate=0.05 epochs=4``); True when any row got one."""
    by_algorithm: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_algorithm.setdefault(str(row.get("algorithm", "")), []).append(row)
    folded = False
    for group in by_algorithm.values():
        if len(group) < 2:
            continue
        differing = [c for c in columns if len({format_cell(row.get(c)) for row in group}) > 1]
        for row in group:
            row[HYPERPARAMETERS] = " ".join(f"{c.split('-', 1)[-1]}={format_cell(row.get(c))}" for c in differing)
        folded = folded or bool(differing)
    return folded


def _widest(table: str) -> int:
    return max(len(line) for line in table.splitlines())
