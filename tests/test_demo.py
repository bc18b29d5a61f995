"""The main job, as `make demo` runs it: default synthetic data, CLI, leaderboard and report."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    job = tmp_path_factory.mktemp("demo") / "cityscapes-lifelong"
    shutil.copytree(EXAMPLE, job, ignore=shutil.ignore_patterns("data", "workspace"))
    subprocess.run([sys.executable, "-m", "controller", "dataset", "synth", str(job / "data")], check=True)
    run = subprocess.run(
        [sys.executable, "-m", "controller", "run", str(job / "benchmarkingjob.yaml")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return job, run


def _rows(job: Path) -> list[dict[str, str]]:
    with (job / "workspace" / "cityscapes-lifelong" / "rank" / "all_rank.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_demo_succeeds_and_prints_leaderboard_and_report_path(demo) -> None:
    job, run = demo
    assert run.returncode == 0, run.stderr
    assert "pixel-softmax-kb" in run.stdout
    report = job / "workspace" / "cityscapes-lifelong" / "report" / "index.html"
    assert f"report:      {report}" in run.stdout
    assert report.stat().st_size > 10_000


def test_demo_ranks_the_knowledge_base_first_and_the_majority_class_last(demo) -> None:
    job, _ = demo
    ranked = [r["algorithm"] for r in _rows(job)]
    assert ranked.index("pixel-softmax-kb") < ranked.index("pixel-softmax-finetune")
    assert ranked.index("rfnet-kb") < ranked.index("rfnet-finetune")
    assert ranked[-1] == "majority-class"


def test_demo_miou_is_clearly_above_the_majority_class_baseline(demo) -> None:
    job, _ = demo
    miou = {r["algorithm"]: float(r["mIoU"]) for r in _rows(job)}
    assert miou["pixel-softmax-kb"] > miou["majority-class"] + 0.5


@pytest.mark.parametrize("algorithm", ["pixel-softmax-finetune", "rfnet-finetune"])
def test_demo_reports_a_full_lifelong_row(demo, algorithm: str) -> None:
    job, _ = demo
    row = next(r for r in _rows(job) if r["algorithm"] == algorithm)
    for metric in (
        "ACC",
        "BWT",
        "FWT",
        "forgetting",
        "BWT_ianvs",
        "FWT_ianvs",
        "task_avg_acc",
        "samples_transfer_ratio",
    ):
        assert row[metric] != "", metric
    assert float(row["BWT"]) < -0.2  # naive fine-tuning forgets earlier cities


def test_demo_rfnet_beats_the_majority_class_and_the_knowledge_base_does_not_forget(demo) -> None:
    job, _ = demo
    rows = {r["algorithm"]: r for r in _rows(job)}
    assert float(rows["rfnet-kb"]["mIoU"]) > float(rows["majority-class"]["mIoU"]) + 0.2
    assert float(rows["rfnet-kb"]["BWT"]) > float(rows["rfnet-finetune"]["BWT"]) + 0.1


def test_demo_rfnet_fine_tuning_forgets_and_the_knowledge_base_keeps_every_city(demo) -> None:
    job, _ = demo
    rows = {r["algorithm"]: r for r in _rows(job)}
    assert float(rows["rfnet-finetune"]["BWT"]) < -0.05
    # each city keeps its snapshot and the domain classifier finds it again in every later round
    assert float(rows["rfnet-kb"]["BWT"]) == pytest.approx(0.0, abs=1e-9)
