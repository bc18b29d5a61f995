"""Local runtime: isolated cases, parallel = serial, resumable, workspace layout and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.config.loader import load_job
from controller.plan import build_plan
from controller.runtime.local import run_cases
from tests.conftest import edit_yaml, keep_algorithms, write


def _fast(job_dir: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"][0].__setitem__(
            "hyperparameters",
            [
                {"learning_rate": {"values": [0.05, 0.1]}},
                {"epochs": {"values": [1]}},
                {"pixels_per_image": {"values": [256]}},
            ],
        ),
    )


def _broken_plugin(job_dir: Path) -> None:
    write(
        job_dir / "broken.py",
        """
        from controller import register

        @register("Broken")
        class Broken:
            def train(self, train_data, valid_data=None, **kwargs):
                raise RuntimeError("simulated out-of-memory\\nsecond line")

            def predict(self, data, **kwargs):
                return []
    """,
    )
    write(
        job_dir / "algorithm-broken.yaml",
        """
        algorithm:
          paradigm_type: singletasklearning
          modules:
            - type: basemodel
              name: Broken
              url: ./broken.py
    """,
    )
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"]["algorithms"].append(
            {"name": "broken", "url": "./algorithm-broken.yaml"}
        ),
    )


def test_a_failing_case_is_recorded_and_the_others_still_run(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keep_algorithms(job_dir, "majority-class")
    _broken_plugin(job_dir)
    code = main(["run", str(job_dir / "benchmarkingjob.yaml")])
    assert code == 1
    rows = (job_dir / "workspace" / "cityscapes-lifelong" / "rank" / "all_rank.csv").read_text()
    assert "RuntimeError: simulated out-of-memory second line" in rows
    results = {
        json.loads(p.read_text())["algorithm"]: json.loads(p.read_text())
        for p in (job_dir / "workspace" / "cityscapes-lifelong").glob("*/result.json")
    }
    assert results["majority-class"]["status"] == "ok"
    assert results["broken"]["status"] == "failed"
    log = Path(results["broken"]["case_dir"], "case.log").read_text()
    assert "Traceback" in log and "simulated out-of-memory" in log


def test_parallel_results_equal_serial_results(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "pixel-softmax-kb", "majority-class")
    _fast(job_dir)
    specs = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))
    serial = run_cases(specs, tmp_path / "serial", parallel=1)
    parallel = run_cases(specs, tmp_path / "parallel", parallel=2)
    assert [r.case_id for r in serial] == [r.case_id for r in parallel]
    for a, b in zip(serial, parallel):
        assert a.status == b.status == "ok"
        assert a.metrics == b.metrics
        assert a.matrix == b.matrix


def test_resume_skips_finished_cases(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "majority-class")
    specs = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))
    first = run_cases(specs, tmp_path, parallel=1)
    log = Path(first[0].case_dir) / "case.log"
    stamp = log.stat().st_mtime_ns
    reused: list[bool] = []
    again = run_cases(specs, tmp_path, resume=True, progress=lambda d, t, r, was_reused: reused.append(was_reused))
    assert reused == [True]
    assert again[0].metrics == first[0].metrics
    assert log.stat().st_mtime_ns == stamp


def test_resume_reruns_failed_cases(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir)
    _broken_plugin(job_dir)
    specs = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))
    run_cases(specs, tmp_path)
    reused: list[bool] = []
    run_cases(specs, tmp_path, resume=True, progress=lambda d, t, r, was_reused: reused.append(was_reused))
    assert reused == [False]


def test_case_folder_holds_snapshot_log_model_metrics_and_provenance(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "pixel-softmax-kb")
    _fast(job_dir)
    spec = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))[0]
    result = run_cases([spec], tmp_path)[0]
    folder = tmp_path / "cityscapes-lifelong" / spec.case_id
    assert Path(result.case_dir) == folder
    for name in ("spec.json", "case.log", "metrics.json", "provenance.json", "result.json", "kb/index.json"):
        assert (folder / name).is_file(), name
    assert list((folder / "kb" / "tasks").glob("*/round-*/model.npz"))
    provenance = json.loads((folder / "provenance.json").read_text())
    assert len(provenance["config_hash"]) == 64
    assert provenance["seed"] == 0
    assert len(provenance["dataset"]["train_index_sha256"]) == 64
    assert "numpy" in provenance["versions"] and provenance["hardware"]["cpu_count"] >= 1
    assert spec.case_id == provenance["config_hash"][:12]
