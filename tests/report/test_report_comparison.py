"""The report's opening comparisons across cases: accuracy vs forgetting, vs latency, vs memory, and the cases'
per-task accuracy side by side; each says what better looks like and names the cases it cannot show."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from controller.config.rank import RankConfig
from controller.report.comparison import case_labels, comparisons, value
from controller.report.html import write_html_report
from controller.report.rank import update_leaderboard
from controller.results import AccuracyMatrix, CaseResult
from tests.report.test_report_html import make_matrix, make_result


def _case(case_id: str, algorithm: str, acc: float, bwt: float, **more: Any) -> CaseResult:
    return make_result(
        case_id,
        algorithm=algorithm,
        metrics={"mIoU": acc, "ACC": acc, "BWT": bwt},
        efficiency={"latency_p50_ms": 12.0 + acc, "peak_rss_mib": 300.0 * acc},
        matrix=make_matrix(),
        **more,
    )


def test_every_comparison_is_drawn_for_cases_with_the_values(tmp_path: Path) -> None:
    drawn = comparisons([_case("a1", "kb", 0.6, -0.01), _case("b1", "finetune", 0.5, -0.2)], tmp_path)
    assert [c.title for c in drawn] == [
        "Accuracy vs forgetting",
        "Accuracy vs latency",
        "Accuracy vs memory",
        "Per task, after the last round (mIoU)",
    ]
    for comparison in drawn:
        assert comparison.png is not None and comparison.left_out == () and comparison.reason == ""
        assert Image.open(comparison.png).size[0] > 300
        assert comparison.better.startswith("better: ")


def test_a_case_without_a_value_is_left_out_of_that_plot_and_named(tmp_path: Path) -> None:
    slow_unknown = _case("c1", "no-latency", 0.4, -0.1)
    slow_unknown.efficiency = {"peak_rss_mib": 100.0}
    drawn = {c.title: c for c in comparisons([_case("a1", "kb", 0.6, -0.01), slow_unknown], tmp_path)}
    assert drawn["Accuracy vs latency"].left_out == ("no-latency",)
    assert drawn["Accuracy vs memory"].left_out == ()


def test_failed_cases_are_not_compared(tmp_path: Path) -> None:
    failed = make_result("f1", algorithm="broken", status="failed", metrics={})
    drawn = comparisons([_case("a1", "kb", 0.6, -0.01), failed], tmp_path)
    assert all("broken" not in c.left_out for c in drawn)


def test_a_plot_no_case_can_fill_says_why(tmp_path: Path) -> None:
    only_accuracy = [make_result("a1", metrics={"mIoU": 0.5}), make_result("b1", metrics={"mIoU": 0.4})]
    drawn = {c.title.split(" (")[0]: c for c in comparisons(only_accuracy, tmp_path)}
    assert drawn["Accuracy vs forgetting"].png is None
    assert drawn["Accuracy vs forgetting"].reason == "no finished case has BWT and ACC"
    assert drawn["Per task, after the last round"].reason == "no finished case has an accuracy matrix"


def test_an_algorithm_with_several_cases_is_labelled_with_their_ids() -> None:
    results = [
        make_result("aaaaaa11", algorithm="kb"),
        make_result("bbbbbb22", algorithm="kb"),
        make_result("c", algorithm="x"),
    ]
    assert case_labels(results) == {"aaaaaa11": "kb (aaaaaa)", "bbbbbb22": "kb (bbbbbb)", "c": "x"}


@pytest.mark.parametrize("stored", [None, float("nan"), True, "0.5"])
def test_a_value_that_is_not_a_finite_number_counts_as_missing(stored: Any) -> None:
    assert value(make_result("a", metrics={"mIoU": stored}), "mIoU") is None


def test_the_per_task_bars_use_each_cases_last_round(tmp_path: Path) -> None:
    early = AccuracyMatrix("mIoU", ["a", "b"], [[0.9, 0.1], [0.2, 0.8]], [0.0, 0.0])
    from controller.report import comparison

    rows: dict[str, dict[str, float | None]] = {}
    original = comparison.plots.grouped_bars

    def record(r: dict[str, dict[str, float | None]], *args: Any) -> Path:
        rows.update(r)
        return original(r, *args)

    comparison.plots.grouped_bars = record  # type: ignore[assignment]
    try:
        comparisons([make_result("x", matrix=early), make_result("y", algorithm="other", matrix=early)], tmp_path)
    finally:
        comparison.plots.grouped_bars = original  # type: ignore[assignment]
    assert rows == {"rfnet_lifelong": {"a": 0.2, "b": 0.8}, "other": {"a": 0.2, "b": 0.8}}


def _report(tmp_path: Path, results: list[CaseResult]) -> str:
    job_dir = tmp_path / "job"
    board = update_leaderboard(job_dir, results, RankConfig(sort_by=[{"mIoU": "descend"}]))
    return write_html_report(job_dir, board, results).read_text()


def test_the_report_opens_with_the_comparisons_before_the_leaderboard(tmp_path: Path) -> None:
    html = _report(tmp_path, [_case("a1", "kb", 0.6, -0.01), _case("b1", "finetune", 0.5, -0.2)])
    assert html.index("<h2>Comparisons</h2>") < html.index("<h2>Leaderboard</h2>")
    section = html[html.index("<h2>Comparisons</h2>") : html.index("<h2>Leaderboard</h2>")]
    assert len(re.findall(r'<img src="data:image/png;base64,', section)) == 4
    assert "Accuracy vs forgetting: better: up (higher ACC)" in section


def test_a_report_of_one_case_has_no_comparisons(tmp_path: Path) -> None:
    assert "<h2>Comparisons</h2>" not in _report(tmp_path, [_case("a1", "kb", 0.6, -0.01)])


def test_the_reports_leaderboard_shows_the_cost_columns_the_selection_left_out(tmp_path: Path) -> None:
    from controller.config.rank import RankConfig as Rank

    results = [_case("a1", "kb", 0.6, -0.01), _case("b1", "finetune", 0.5, -0.2)]
    job_dir = tmp_path / "job"
    rank = Rank.model_validate({"sort_by": [{"mIoU": "descend"}], "selected_dataitem": {"metrics": ["mIoU"]}})
    board = update_leaderboard(job_dir, results, rank)
    html = write_html_report(job_dir, board, results).read_text()
    board_html = html[html.index("<h2>Leaderboard</h2>") :]
    header = re.findall(r"<th>(.*?)</th>", board_html[: board_html.index("</thead>")])
    assert header[:5] == ["rank", "algorithm", "mIoU", "peak_rss_mib", "latency_p50_ms"]  # EFFICIENCY_METRICS order
    assert "peak_gpu_mib" not in header  # no case has a value
    selected_csv = (job_dir / "rank" / "selected_rank.csv").read_text().splitlines()[0].split(",")
    assert "latency_p50_ms" not in selected_csv  # the CSV keeps exactly the selection
