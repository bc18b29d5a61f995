"""Publishing through the CLI: the leaderboard accumulates across runs without duplicating cases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from controller.cli import main
from tests.conftest import BASELINES, edit_yaml, keep_algorithms


def _only_majority(job_dir: Path) -> None:
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"].__setitem__(
            "algorithms", [{"name": "majority-class", "url": "./algorithm-majority.yaml"}]
        ),
    )


def _rows(job_dir: Path) -> list[dict[str, str]]:
    with (job_dir / "workspace" / "cityscapes-lifelong" / "rank" / "all_rank.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_rerunning_a_job_replaces_rows_instead_of_appending_duplicates(job_dir: Path) -> None:
    _only_majority(job_dir)
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert len(_rows(job_dir)) == 1


def test_a_changed_configuration_is_appended_to_the_earlier_rows(job_dir: Path) -> None:
    _only_majority(job_dir)
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    edit_yaml(
        job_dir / "algorithm-majority.yaml",
        lambda d: d["algorithm"]["modules"][1].__setitem__("hyperparameters", [{"attribute": {"values": ["folder"]}}]),
    )
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert sorted(r["task_definition-attribute"] for r in _rows(job_dir)) == ["city", "folder"]


def test_report_command_rebuilds_from_stored_results(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _only_majority(job_dir)
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    html = job_dir / "workspace" / "cityscapes-lifelong" / "report" / "index.html"
    html.unlink()
    assert main(["report", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert html.is_file()
    assert "majority-class" in capsys.readouterr().out


def test_report_without_results_is_an_error(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(job_dir / "benchmarkingjob.yaml")]) == 2
    assert "no results yet" in capsys.readouterr().err


def test_html_sections_follow_the_leaderboard_order(job_dir: Path) -> None:
    keep_algorithms(job_dir, *BASELINES)
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    html = (job_dir / "workspace" / "cityscapes-lifelong" / "report" / "index.html").read_text()
    order = [r["case_id"] for r in _rows(job_dir)]
    positions = [html.index(f'id="case-{case_id}"') for case_id in order]
    assert positions == sorted(positions)
