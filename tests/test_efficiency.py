"""What a test case cost (``result.json`` ``efficiency``), checked against what the case is known to do: a
"costly" algorithm (tests/conftest.py: ``add_costly``) sleeps, burns CPU, holds memory and predicts slowly by
amounts its hyper-parameters set; the tiny job has three cities, so three training rounds."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.results import EFFICIENCY_METRICS, read_result
from tests.conftest import add_costly, edit_yaml, keep_algorithms

JOB = "cityscapes-lifelong"
ROUNDS = 3


def _results(workspace: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in (workspace / JOB).glob("*/result.json"):
        data = json.loads(path.read_text())
        found[data["algorithm"]] = data
    return found


def _run(job_dir: Path, workspace: Path, *options: str) -> dict[str, dict[str, Any]]:
    assert main(["run", str(job_dir / "benchmarkingjob.yaml"), "--workspace", str(workspace), *options]) == 0
    return _results(workspace)


def test_time_per_phase_and_cpu_time_match_what_the_case_did(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir)
    add_costly(job_dir, "sleeper", hold_s=0.4)
    add_costly(job_dir, "spinner", spin_s=0.5)
    found = _run(job_dir, tmp_path / "ws")
    sleeper, spinner = found["sleeper"]["efficiency"], found["spinner"]["efficiency"]
    # sleeping: train time is the sleep, CPU time is not
    assert ROUNDS * 0.4 <= sleeper["train_time_s"] < ROUNDS * 0.4 + 0.5
    assert sleeper["cpu_time_s"] < 0.5 * sleeper["train_time_s"]
    # spinning: CPU time is at least the spin (and the rest of the case)
    assert ROUNDS * 0.5 <= spinner["cpu_time_s"] <= spinner["wall_time_s"] + 0.2
    for cost in (sleeper, spinner):
        assert cost["train_time_s"] + cost["evaluate_time_s"] <= cost["wall_time_s"]
    rounds = found["sleeper"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3]
    assert all(0.4 <= r["train_seconds"] < 0.9 and r["evaluate_seconds"] > 0 for r in rounds)


def test_inference_latency_and_throughput_match_a_model_of_known_speed(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir)
    add_costly(job_dir, "slow-predict", predict_ms=20)
    cost = _run(job_dir, tmp_path / "ws")["slow-predict"]["efficiency"]
    assert 20 <= cost["latency_p50_ms"] <= cost["latency_p95_ms"] < 20 + 10
    assert 1000 / (20 + 10) < cost["throughput_sps"] <= 1000 / 20


def test_peak_memory_of_a_case_process_is_what_it_held(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "majority-class")
    add_costly(job_dir, "holds-300", mib=300, hold_s=0.3)
    found = _run(job_dir, tmp_path / "ws", "--parallel", "2")  # each case in a process of its own
    held = found["holds-300"]
    assert held["provenance"]["measurement"]["process"] == "case process"
    # 300 MiB held, plus an interpreter with numpy and the case (~60 MiB here)
    assert 300 <= held["efficiency"]["peak_rss_mib"] <= 300 + 150
    assert found["majority-class"]["efficiency"]["peak_rss_mib"] < 150


def test_model_size_is_the_saved_knowledge_base_and_the_parameters_the_model_reports(
    job_dir: Path, tmp_path: Path
) -> None:
    keep_algorithms(job_dir, "majority-class")
    result = _run(job_dir, tmp_path / "ws")["majority-class"]
    kb = Path(result["case_dir"]) / "kb"
    assert result["efficiency"]["model_bytes"] == sum(p.stat().st_size for p in kb.rglob("*") if p.is_file())
    assert result["efficiency"]["model_parameters"] == 19  # one count per Cityscapes train class


def test_efficiency_columns_rank_and_select_like_any_metric(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "majority-class")
    add_costly(job_dir, "holds-200", mib=200)

    def rank_by_memory(data: dict[str, Any]) -> None:
        rank = data["benchmarkingjob"]["rank"]
        rank["sort_by"] = [{"peak_rss_mib": "ascend"}]
        rank["selected_dataitem"]["metrics"] = ["mIoU", "peak_rss_mib", "latency_p95_ms"]

    edit_yaml(job_dir / "benchmarkingjob.yaml", rank_by_memory)
    _run(job_dir, tmp_path / "ws", "--parallel", "2")
    rank_dir = tmp_path / "ws" / JOB / "rank"
    with (rank_dir / "all_rank.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["algorithm"] for row in rows] == ["majority-class", "holds-200"]
    assert set(EFFICIENCY_METRICS) <= set(rows[0])
    with (rank_dir / "selected_rank.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:5] == ["rank", "algorithm", "mIoU", "peak_rss_mib", "latency_p95_ms"]


@pytest.mark.parametrize("version", [1, 2])
def test_results_of_older_schemas_are_read_without_efficiency_and_written_as_the_current_one(
    tmp_path: Path, version: int
) -> None:
    record = {
        "schema_version": version,
        "case_id": "0123456789ab",
        "algorithm": "a",
        "paradigm": "lifelonglearning",
        "modules": {},
        "hyperparameters": {},
        "status": "ok",
        "metrics": {"mIoU": 0.5},
        ("job" if version == 1 else "benchmarking_job"): "cityscapes-lifelong",
    }
    (tmp_path / "result.json").write_text(json.dumps(record))
    result = read_result(tmp_path)
    assert result is not None and result.efficiency == {}
    assert result.to_dict()["schema_version"] == 3
