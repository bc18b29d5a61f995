"""The leaderboard as the terminal prints it: within the terminal's width, rows told apart, failures visible."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.config.rank import RankConfig
from controller.report.publish import console_table
from controller.report.rank import Leaderboard, update_leaderboard
from controller.results import CaseResult

METRICS = ("mIoU", "pixel_accuracy", "ACC", "BWT", "FWT", "forgetting", "task_avg_acc", "samples_transfer_ratio")


def _result(case_id: str, algorithm: str, hyperparameters: dict[str, Any], **changes: Any) -> CaseResult:
    fields: dict[str, Any] = dict(
        case_id=case_id, benchmarking_job="job", algorithm=algorithm, paradigm="lifelonglearning",
        modules={"basemodel": "PixelSoftmaxSegmenter"}, hyperparameters=hyperparameters, status="ok",
        metrics={name: 0.1 * (i + 1) + 0.012345 for i, name in enumerate(METRICS)},
    )  # fmt: skip
    return CaseResult(**{**fields, **changes})


def _board(tmp_path: Path, results: list[CaseResult]) -> Leaderboard:
    return update_leaderboard(tmp_path, results, RankConfig(sort_by=[{"mIoU": "descend"}]))


def test_the_printed_leaderboard_fits_the_width_and_names_the_columns_it_left_out(tmp_path: Path) -> None:
    results = [_result(f"c{i}", f"algorithm-{i}", {"basemodel-learning_rate": 0.05}) for i in range(5)]
    printed = console_table(_board(tmp_path, results), width=70)
    lines = printed.splitlines()
    assert max(len(line) for line in lines) <= 70
    assert lines[1].split("|")[1:3] == [" rank ", " algorithm   "]
    header = [cell.strip() for cell in lines[1].split("|")]
    left_out = [name for name in METRICS if name not in header]
    assert header[3] == "mIoU" and left_out == list(METRICS[len(METRICS) - len(left_out) :])
    footer = f"{len(left_out)} more columns in the CSV files and the report: {', '.join(left_out)}"
    assert footer in " ".join(lines[-2:])
    assert "learning_rate" not in printed and "PixelSoftmaxSegmenter" not in printed


def test_a_wide_terminal_shows_every_chosen_metric_and_no_footer(tmp_path: Path) -> None:
    printed = console_table(_board(tmp_path, [_result("c0", "a", {})]), width=500)
    assert all(name in printed.splitlines()[1] for name in METRICS)
    assert "more column" not in printed


def test_rows_of_one_algorithm_are_told_apart_by_the_hyperparameters_that_differ(tmp_path: Path) -> None:
    results = [
        _result("c0", "kb", {"basemodel-learning_rate": 0.05, "basemodel-epochs": 4}),
        _result("c1", "kb", {"basemodel-learning_rate": 0.1, "basemodel-epochs": 4}),
        _result("c2", "majority", {}),
    ]
    lines = console_table(_board(tmp_path, results), width=200).splitlines()
    assert lines[1].split("|")[3].strip() == "hyperparameters"
    cells = {line.split("|")[3].strip() for line in lines[3:6]}
    assert cells == {"learning_rate=0.05", "learning_rate=0.1", ""}


def test_status_and_error_are_printed_only_when_a_case_did_not_finish_well(tmp_path: Path) -> None:
    ok = _result("c0", "a", {})
    assert "status" not in console_table(_board(tmp_path / "ok", [ok]), width=200)
    failed = _result("c1", "b", {}, status="failed", error="RuntimeError: out of memory", metrics={})
    printed = console_table(_board(tmp_path / "failed", [ok, failed]), width=200)
    assert printed.splitlines()[1].split("|")[3:5] == [" status ", " error                       "]
    assert "RuntimeError: out of memory" in printed
