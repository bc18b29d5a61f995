"""The report shows what the numbers mean: the kept test samples of the best and the worst finished case, as image
| ground truth | prediction in Cityscapes colours."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from controller.config.rank import RankConfig
from controller.datasets.images import read_label
from controller.datasets.index import read_index
from controller.paradigms.qualitative import PredictionKeeper
from controller.report.html import write_html_report
from controller.report.qualitative import colourise
from controller.report.rank import update_leaderboard
from controller.results import CaseResult
from tests.report.test_report_comparison import _case


def _with_kept_predictions(result: CaseResult, folder: Path, dataset: Path) -> CaseResult:
    test = read_index(dataset / "test-index.txt")
    keeper = PredictionKeeper(folder, len(test))
    for position, sample in enumerate(test):
        keeper(position, sample, read_label(sample.label))  # a perfect model: its prediction is the ground truth
    keeper.write()
    result.case_dir = str(folder)
    return result


def _section(html: str) -> str:
    return html[html.index("<h2>What the numbers look like</h2>") : html.index("<h2>Leaderboard</h2>")]


def _report(tmp_path: Path, results: list[CaseResult]) -> str:
    job_dir = tmp_path / "job"
    board = update_leaderboard(job_dir, results, RankConfig(sort_by=[{"mIoU": "descend"}]))
    return write_html_report(job_dir, board, results).read_text()


def test_the_best_and_the_worst_case_show_their_kept_samples(tmp_path: Path, tiny_dataset: Path) -> None:
    results = [
        _with_kept_predictions(_case("b1", "finetune", 0.5, -0.2), tmp_path / "b1", tiny_dataset),
        _with_kept_predictions(_case("a1", "kb", 0.6, -0.01), tmp_path / "a1", tiny_dataset),
        _with_kept_predictions(_case("c1", "middle", 0.55, -0.1), tmp_path / "c1", tiny_dataset),
    ]
    section = _section(_report(tmp_path, results))
    assert re.findall(r"<figcaption>(\w+: \S+ \(\w+\))", section) == ["best: kb (a1)", "worst: finetune (b1)"]
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section)
    figure = np.asarray(Image.open(io.BytesIO(base64.b64decode(payloads[0]))).convert("RGB"))
    road = tuple(int(c) for c in colourise(np.array([[0]]))[0, 0])
    assert road == (128, 64, 128)
    assert (figure == road).all(axis=-1).sum() > 100  # ground truth and prediction drawn in Cityscapes colours


def test_a_case_whose_predictions_are_not_here_is_named_with_the_reason(tmp_path: Path, tiny_dataset: Path) -> None:
    elsewhere = _case("b1", "finetune", 0.5, -0.2)
    elsewhere.case_dir = str(tmp_path / "on-a-node")
    results = [_with_kept_predictions(_case("a1", "kb", 0.6, -0.01), tmp_path / "a1", tiny_dataset), elsewhere]
    section = _section(_report(tmp_path, results))
    assert (
        f"worst: finetune (b1): no samples to show (no predictions kept in {tmp_path / 'on-a-node' / 'predictions'})"
        in (" ".join(section.split()))
    )
    assert section.count("data:image/png;base64,") == 1
