"""Publish a job's story: leaderboard CSVs, markdown, the printed table and the HTML report.

Reads every stored ``<job>/<case-id>/result.json`` (this run's and earlier runs'), so the
leaderboard of a workspace accumulates across runs; a case run again replaces its own row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from controller.config.rank import RankConfig
from controller.report.html import write_html_report
from controller.report.markdown import write_markdown
from controller.report.rank import ALL_RANK_FILE, RANK_DIR, Leaderboard, update_leaderboard
from controller.report.table import format_table
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


def console_table(board: Leaderboard) -> str:
    """The selected view without what a terminal cannot fit: module classes, paths, times.

    The CSV files and the HTML report keep every column.
    """
    columns, rows = board.view()
    hidden = {"url", "time", "paradigm", *board.module_columns}
    if all(row.get("status", "ok") == "ok" for row in rows):
        hidden.add("error")
    return format_table([c for c in columns if c not in hidden], rows)
