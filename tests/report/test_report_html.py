"""The self-contained HTML report and the PNG plots it embeds."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from controller.config.rank import RankConfig
from controller.report.html import flatten, write_html_report
from controller.report.plots import heatmap_filename, matrix_heatmap, per_class_bars, task_curves
from controller.report.rank import update_leaderboard
from controller.results import AccuracyMatrix, CaseResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VIRIDIS_MAX = (253, 231, 37)  # colour of the largest value in matplotlib's viridis
VIRIDIS_MIN = (68, 1, 84)


def make_matrix(**overrides: Any) -> AccuracyMatrix:
    fields: dict[str, Any] = {
        "metric": "mIoU",
        "tasks": ["sunny", "rainy", "night"],
        "values": [[0.5, 0.1, 0.2], [0.45, 0.6, 0.25], [0.4, 0.55, 0.7]],
        "baseline": [0.05, 0.06, None],
    }
    fields.update(overrides)
    return AccuracyMatrix(**fields)


def make_result(case_id: str, **overrides: Any) -> CaseResult:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "benchmarking_job": "ll-robot",
        "algorithm": "rfnet_lifelong",
        "paradigm": "lifelonglearning",
        "modules": {"basemodel": "RFNet"},
        "hyperparameters": {"basemodel-learning_rate": 0.001, "basemodel-epochs": [2, 4]},
        "status": "ok",
        "metrics": {"accuracy": 0.61, "BWT": -0.05, "matrix": [[0.5]]},
    }
    fields.update(overrides)
    return CaseResult(**fields)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One report over three cases: matrix + per-class (3 plots), matrix only (2 plots), failed (0 plots)."""
    job_dir = tmp_path_factory.mktemp("ws") / "ll-robot"
    results = [
        make_result(
            "full",
            matrix=make_matrix(),
            per_class={"road": 0.9, "car": None, "sky": 0.7},
            rounds=[{"round": 1, "task": "sunny", "train_loss": 0.3}, {"round": 2, "task": "rainy", "samples": 120}],
            provenance={"git": {"sha": "abc123", "dirty": False}, "python": "3.11.9"},
        ),
        make_result("matrix-only", algorithm="finetune", matrix=make_matrix(metric="accuracy")),
        make_result(
            "broken",
            algorithm="broken_algo",
            status="failed",
            metrics={},
            error="RuntimeError: <script>alert('x')</script> & more",
        ),
    ]
    board = update_leaderboard(job_dir, results, RankConfig(sort_by=[{"accuracy": "descend"}]))
    path = write_html_report(job_dir, board, results)
    assert path == job_dir / "report" / "index.html"
    return path.read_text()


def section(html: str, case_id: str) -> str:
    match = re.search(rf'<section class="case" id="case-{re.escape(case_id)}">(.*?)</section>', html, re.S)
    assert match, f"no section for {case_id}"
    return match.group(1)


# --------------------------------------------------------------------------------------------- HTML


def test_report_references_no_external_url(report: str) -> None:
    assert re.findall(r"https?://", report) == []


def test_report_embeds_one_png_data_uri_per_plot(report: str) -> None:
    counts = {cid: section(report, cid).count("data:image/png;base64,") for cid in ("full", "matrix-only", "broken")}
    assert counts == {"full": 3, "matrix-only": 2, "broken": 0}


def test_embedded_images_decode_to_png(report: str) -> None:
    payloads = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", report)
    # the cases' 5, and one comparison: per task (no case has the values of the other comparisons)
    assert len(payloads) == 6
    assert all(base64.b64decode(p).startswith(PNG_MAGIC) for p in payloads)


def test_markup_in_error_message_is_escaped(report: str) -> None:
    assert "<script>" not in report
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in report


def test_failed_case_is_a_failed_leaderboard_row_with_its_error(report: str) -> None:
    rows = re.findall(r'<tr class="(ok|failed)">(.*?)</tr>', report, re.S)
    assert [kind for kind, _ in rows] == ["ok", "ok", "failed"]
    assert "broken_algo" in rows[2][1] and "RuntimeError: &lt;script&gt;" in rows[2][1]


def test_leaderboard_rows_link_to_case_sections(report: str) -> None:
    assert '<a href="#case-matrix-only">finetune</a>' in report


def test_case_section_lists_hyperparameters_and_metrics(report: str) -> None:
    text = section(report, "full")
    assert "<tr><th>basemodel-learning_rate</th><td>0.001</td></tr>" in text
    assert "<tr><th>basemodel-epochs</th><td>[2, 4]</td></tr>" in text
    assert "<tr><th>accuracy</th><td>0.61</td></tr>" in text


def test_rounds_log_is_a_table_of_the_union_of_its_keys(report: str) -> None:
    text = section(report, "full")
    assert "<thead><tr><th>round</th><th>task</th><th>train_loss</th><th>samples</th></tr></thead>" in text
    assert "<tr><td>2</td><td>rainy</td><td></td><td>120</td></tr>" in text


def test_provenance_is_a_definition_list_with_dotted_keys(report: str) -> None:
    text = section(report, "full")
    assert "<dt>git.sha</dt><dd>abc123</dd>" in text
    assert "<dt>python</dt><dd>3.11.9</dd>" in text


@pytest.mark.parametrize(
    ("data", "flat"),
    [
        ({"a": 1}, {"a": "1"}),
        ({"a": {"b": {"c": "x"}}, "d": [1, 2]}, {"a.b.c": "x", "d": "[1, 2]"}),
        ({"empty": {}}, {"empty": "{}"}),
    ],
)
def test_flatten_joins_nested_keys_with_dots(data: dict[str, Any], flat: dict[str, str]) -> None:
    assert flatten(data) == flat


def test_malformed_matrix_gives_a_note_not_a_crash(tmp_path: Path) -> None:
    bad = make_result("bad-matrix", matrix=make_matrix(baseline=[0.1]))
    board = update_leaderboard(tmp_path, [bad], RankConfig())
    html = write_html_report(tmp_path, board, [bad]).read_text()
    assert "not drawn (accuracy matrix &#39;mIoU&#39;: baseline has 1 values, expected 3" in html
    assert "data:image/png;base64," not in html


def test_importing_report_package_loads_no_plotting_or_templating() -> None:
    code = "import sys, controller.report, controller.report.rank; print(sorted({'matplotlib', 'jinja2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -------------------------------------------------------------------------------------------- plots


def load_png(path: Path) -> Image.Image:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    return Image.open(io.BytesIO(data)).convert("RGB")


def has_colour_near(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb)) for _, pixel in image.getcolors(1 << 24))


def test_heatmap_is_a_png_showing_the_viridis_range(tmp_path: Path) -> None:
    image = load_png(matrix_heatmap(make_matrix(), tmp_path / "h.png"))
    assert len(image.getcolors(1 << 24)) > 50
    assert has_colour_near(image, VIRIDIS_MAX) and has_colour_near(image, VIRIDIS_MIN)


def test_task_curves_is_a_png_with_drawn_lines(tmp_path: Path) -> None:
    image = load_png(task_curves(make_matrix(), tmp_path / "c.png"))
    assert has_colour_near(image, (31, 119, 180))  # first line colour of matplotlib's default cycle


@pytest.mark.parametrize(
    "per_class",
    [{"road": 0.9, "car": None, "sky": float("nan"), "person": 0.3}, {"road": None, "car": None}],
    ids=["some-absent", "all-absent"],
)
def test_per_class_bars_is_a_png_that_is_not_blank(tmp_path: Path, per_class: dict[str, float | None]) -> None:
    image = load_png(per_class_bars(per_class, tmp_path / "b.png"))
    non_white = sum(count for count, pixel in image.getcolors(1 << 24) if pixel != (255, 255, 255))
    assert non_white > 0.01 * image.width * image.height


def test_per_class_bars_draws_one_bar_per_present_class(tmp_path: Path) -> None:
    with_two = load_png(per_class_bars({"a": 0.5, "b": None, "c": 0.5}, tmp_path / "two.png"))
    with_none = load_png(per_class_bars({"a": None, "b": None, "c": None}, tmp_path / "none.png"))
    bar = (59, 125, 216)
    assert has_colour_near(with_two, bar, tolerance=2) and not has_colour_near(with_none, bar, tolerance=2)


def test_heatmap_of_matrix_with_wrong_row_length_names_the_round(tmp_path: Path) -> None:
    bad = make_matrix(values=[[0.5, 0.1, 0.2], [0.45, 0.6]])
    with pytest.raises(ValueError, match="round 2 has 2 values, expected 3"):
        matrix_heatmap(bad, tmp_path / "h.png")


@pytest.mark.parametrize(
    ("metric", "name"), [("mIoU", "mIoU-heatmap.png"), ("acc/task avg", "acc_task_avg-heatmap.png")]
)
def test_heatmap_filename_is_deterministic_and_safe(metric: str, name: str) -> None:
    assert heatmap_filename(metric) == name


def test_plot_overwrites_its_file_leaving_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "out" / heatmap_filename("mIoU")
    matrix_heatmap(make_matrix(), target)
    matrix_heatmap(make_matrix(), target)
    assert [p.name for p in target.parent.iterdir()] == ["mIoU-heatmap.png"]
