"""Test cases: the Cartesian product of hyper-parameters, with ids that hash content, not paths."""

from __future__ import annotations

import shutil
from pathlib import Path

from controller.config.loader import load_job
from controller.plan import CaseSpec, build_plan
from tests.conftest import edit_yaml


def _grid(job_dir: Path) -> None:
    def change(d: dict) -> None:
        d["algorithm"]["modules"][0]["hyperparameters"] = [
            {"learning_rate": {"values": [0.1, 0.01]}},
            {"epochs": {"values": [1, 2, 3]}},
        ]
        d["algorithm"]["modules"][1]["hyperparameters"] = [{"attribute": {"values": ["city", "folder"]}}]

    edit_yaml(job_dir / "algorithm-kb.yaml", change)


def test_cartesian_product_within_and_across_modules(job_dir: Path) -> None:
    _grid(job_dir)
    specs = [s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb"]
    assert len(specs) == 2 * 3 * 2
    combos = {
        (
            s.hyperparameters["basemodel-learning_rate"],
            s.hyperparameters["basemodel-epochs"],
            s.hyperparameters["task_definition-attribute"],
        )
        for s in specs
    }
    assert len(combos) == 12
    assert len({s.case_id for s in specs}) == 12


def test_case_ids_are_stable_across_loads(job_dir: Path) -> None:
    first = [s.case_id for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml"))]
    second = [s.case_id for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml"))]
    assert first == second


def test_case_ids_survive_moving_the_job_folder(job_dir: Path, tmp_path: Path) -> None:
    before = [s.case_id for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml"))]
    moved = tmp_path / "moved"
    shutil.copytree(job_dir, moved, symlinks=True)
    after = [s.case_id for s in build_plan(load_job(moved / "benchmarkingjob.yaml"))]
    assert before == after


def test_case_id_changes_with_a_hyperparameter(job_dir: Path) -> None:
    def kb_id() -> str:
        return next(
            s.case_id
            for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml"))
            if s.algorithm == "pixel-softmax-kb"
        )

    before = kb_id()
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"][0]["hyperparameters"][0].__setitem__("learning_rate", {"values": [0.2]}),
    )
    assert kb_id() != before


def test_spec_round_trips_through_json_dict(job_dir: Path) -> None:
    spec = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))[0]
    assert CaseSpec.from_dict(spec.to_dict()) == spec
