"""What a test case cost (``result.json`` ``efficiency``), checked against what the case is known to do: a
"costly" algorithm (tests/conftest.py: ``add_costly``) sleeps, burns CPU, holds memory and predicts slowly by
amounts its hyper-parameters set; the tiny job has three cities, so three training rounds."""

from __future__ import annotations

import csv
import json
import sys
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
    add_costly(job_dir, "child-300", child_mib=300)  # held by a child process that lives a moment: the tree counts
    found = _run(job_dir, tmp_path / "ws", "--parallel", "2")  # each case in a process of its own
    held = found["holds-300"]
    assert held["provenance"]["measurement"]["process"] == "case process"
    # 300 MiB held, plus an interpreter with numpy and the case (~55 MiB here)
    assert 300 <= held["efficiency"]["peak_rss_mib"] <= 300 + 150
    assert 300 <= found["child-300"]["efficiency"]["peak_rss_mib"] <= 300 + 150
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


def test_edge_to_cloud_traffic_is_the_samples_recognised_as_unseen_and_their_input_bytes(
    job_dir: Path, tmp_path: Path
) -> None:
    from controller.config.loader import load_job
    from controller.datasets.index import read_index
    from tests.conftest import write

    keep_algorithms(job_dir, "majority-class")
    write(
        job_dir / "unseen.py",
        """
        from controller import register


        @register("ZurichToTheCloud")
        class ZurichToTheCloud:
            def recognize(self, samples, allocations, known_tasks):
                return ["zurich" in str(sample.inputs[0]) for sample in samples]
    """,
    )
    algorithm = job_dir / "algorithm-majority.yaml"
    algorithm.write_text(
        algorithm.read_text()
        + "    - type: unseen_sample_recognition\n      name: ZurichToTheCloud\n      url: ./unseen.py\n"
    )
    result = _run(job_dir, tmp_path / "ws")["majority-class"]
    test_index = load_job(job_dir / "benchmarkingjob.yaml").testenv.test_index
    zurich = [s for s in read_index(test_index) if "zurich" in str(s.inputs[0])]
    assert zurich, "the tiny dataset has no zurich test samples"
    assert result["efficiency"]["cloud_samples"] == len(zurich)
    assert result["efficiency"]["cloud_bytes"] == sum(p.stat().st_size for s in zurich for p in s.inputs)
    assert result["metrics"]["samples_transfer_ratio"] == pytest.approx(len(zurich) / len(read_index(test_index)))


def test_peak_gpu_memory_is_the_largest_on_any_device_since_the_case_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GPU here: a stand-in for torch.cuda, with two devices, checks what is read and reset."""
    import types

    import controller.runtime.case as case

    resets: list[int] = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        device_count=lambda: 2,
        reset_peak_memory_stats=resets.append,
        max_memory_allocated=lambda device: [100, 300][device] * 2**20,
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    cost = case._Cost()
    assert resets == [0, 1], "a case must not inherit an earlier case's GPU peak"
    assert cost.finish(tmp_path, {})["peak_gpu_mib"] == 300
    monkeypatch.delitem(sys.modules, "torch")
    assert case._Cost().finish(tmp_path, {})["peak_gpu_mib"] is None  # without torch: empty, and torch not imported
    assert "torch" not in sys.modules
