"""The HTML report in a real browser (headless Chromium): it loads without an error, asks for nothing but itself
(self-contained), and every plot, the comparisons first, decodes as an image."""

from __future__ import annotations

from pathlib import Path

from infra.browser import HeadlessBrowser

from controller.config.rank import RankConfig
from controller.report.html import write_html_report
from controller.report.rank import update_leaderboard
from tests.report.test_report_comparison import _case
from tests.report.test_report_html import make_result


def test_the_report_loads_in_a_browser_self_contained_with_every_plot_decoded(
    headless_browser: HeadlessBrowser, tmp_path: Path
) -> None:
    results = [
        _case("a1", "kb", 0.6, -0.01, per_class={"road": 0.9, "sky": 0.7}),
        _case("b1", "finetune", 0.5, -0.2),
        make_result("f1", algorithm="broken", status="failed", metrics={}, error="<b>boom</b>"),
    ]
    job_dir = tmp_path / "job"
    board = update_leaderboard(job_dir, results, RankConfig(sort_by=[{"mIoU": "descend"}]))
    page = headless_browser.open(write_html_report(job_dir, board, results))
    assert page.errors == []
    assert page.requests[0] == page.url
    assert [url for url in page.requests if not url.startswith(("file:", "data:"))] == []
    alts = [image["alt"] for image in page.images]
    assert alts[:4] == [
        "Accuracy vs forgetting",
        "Accuracy vs latency",
        "Accuracy vs memory",
        "Per task, after the last round (mIoU)",
    ]
    assert (
        len(alts) == 4 + 3 + 2
    )  # the comparisons, then the cases' plots (heatmap, curves, per-class; heatmap, curves)
    assert [image for image in page.images if not image["decoded"] or image["width"] < 200] == []
