"""Result records: "ok" means finished with the testenv's metrics, and nothing else is read or written as ok."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.errors import ResultError
from controller.results import CaseResult, read_result, write_result
from tests.conftest import keep_algorithms


def _record(**changes: object) -> CaseResult:
    fields: dict[str, object] = dict(
        case_id="0123456789ab",
        benchmarking_job="cityscapes-lifelong",
        algorithm="majority-class",
        paradigm="lifelonglearning",
        modules={},
        hyperparameters={},
        status="ok",
        metrics={"mIoU": 0.25},
    )
    return CaseResult(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def finished(job_dir: Path) -> Path:
    """The majority-class case of the example job, run once: its result.json."""
    keep_algorithms(job_dir, "majority-class")
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    (path,) = (job_dir / "workspace" / "cityscapes-lifelong").glob("*/result.json")
    return path


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_record_has_no_default_status() -> None:
    with pytest.raises(TypeError, match="status"):
        CaseResult(
            case_id="0123456789ab",
            benchmarking_job="j",
            algorithm="a",
            paradigm="p",
            modules={},  # type: ignore[call-arg]
            hyperparameters={},
        )


def test_an_ok_record_without_metrics_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="claims status ok but holds no metrics"):
        write_result(_record(metrics={}), tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_failed_record_must_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="status failed without an error"):
        write_result(_record(status="failed", metrics={}), tmp_path)


def test_reading_an_ok_record_without_a_metric_the_testenv_asks_for_names_the_file(tmp_path: Path) -> None:
    path = write_result(_record(), tmp_path)
    with pytest.raises(ResultError) as refused:
        read_result(tmp_path, ["mIoU", "BWT"])
    assert str(refused.value) == f"{path}: claims status ok but lacks BWT, which the testenv asks for"


def test_a_record_cut_short_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_result(_record(), tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(ResultError, match=rf"^{path}: not a case result: invalid JSON"):
        read_result(tmp_path)


def test_no_record_is_none(tmp_path: Path) -> None:
    assert read_result(tmp_path) is None


def test_report_refuses_a_hand_made_ok_result_without_metrics(
    finished: Path, job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(finished, metrics={})
    assert main(["report", str(job_dir / "benchmarkingjob.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1] == f"error: {finished}: not a case result: claims status ok but holds no metrics (a case that "
        "did not finish?)"
    )


def test_report_refuses_an_ok_result_lacking_a_metric_its_testenv_asks_for(
    finished: Path, job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(finished.read_text())
    _edit(finished, metrics={k: v for k, v in data["metrics"].items() if k != "BWT"})
    assert main(["report", str(job_dir / "benchmarkingjob.yaml")]) == 2
    assert f"error: {finished}: claims status ok but lacks BWT, which the testenv asks for" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["no metrics", "cut short"])
def test_resume_runs_a_case_again_whose_result_cannot_be_trusted(
    finished: Path, job_dir: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    good = json.loads(finished.read_text())
    if damage == "no metrics":
        _edit(finished, metrics={})
    else:
        finished.write_text(finished.read_text()[:100])  # as a crash in the middle of writing would leave it
    capsys.readouterr()
    assert main(["run", str(job_dir / "benchmarkingjob.yaml"), "--resume"]) == 0
    out = capsys.readouterr()
    assert f"warning: {finished}: " in out.err and "running test case" in out.err
    assert "reused" not in out.err
    assert json.loads(finished.read_text())["metrics"] == good["metrics"]


def test_resume_runs_interrupted_cases_again(finished: Path, job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(finished, status="interrupted", error="interrupted by SIGINT", metrics={})
    capsys.readouterr()
    assert main(["run", str(job_dir / "benchmarkingjob.yaml"), "--resume"]) == 0
    assert "reused" not in capsys.readouterr().err
    assert json.loads(finished.read_text())["status"] == "ok"


def test_the_leaderboard_shows_an_interrupted_case_as_interrupted(
    finished: Path, job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(finished, status="interrupted", error="interrupted by SIGTERM", metrics={})
    assert main(["report", str(job_dir / "benchmarkingjob.yaml")]) == 0
    rows = (job_dir / "workspace" / "cityscapes-lifelong" / "rank" / "all_rank.csv").read_text()
    assert ",interrupted,interrupted by SIGTERM," in rows


def test_a_record_of_schema_1_is_read_with_its_benchmarking_job(tmp_path: Path) -> None:
    data = _record().to_dict()
    data["job"] = data.pop("benchmarking_job")
    data["schema_version"] = 1
    (tmp_path / "result.json").write_text(json.dumps(data))
    result = read_result(tmp_path)
    assert result is not None and result.benchmarking_job == "cityscapes-lifelong"
    assert result.to_dict()["schema_version"] == 3
