"""Paradigms on the tiny synthetic dataset: single-task and lifelong learning behave as specified."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config.loader import load_job
from controller.plan import build_plan
from controller.plugins.loader import load_plugin
from controller.results import CaseResult
from controller.runtime.case import run_case
from tests.conftest import BASELINES, edit_yaml, keep_algorithms, write


@pytest.fixture
def results(job_dir: Path, tmp_path: Path) -> dict[str, CaseResult]:
    keep_algorithms(job_dir, *BASELINES)
    specs = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))
    return {spec.algorithm: run_case(spec, tmp_path) for spec in specs}


def test_every_example_case_succeeds(results: dict[str, CaseResult]) -> None:
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(results, "ok")


def test_accuracy_matrix_has_one_row_per_round_and_a_baseline(results: dict[str, CaseResult]) -> None:
    matrix = results["pixel-softmax-kb"].matrix
    assert matrix is not None and matrix.metric == "mIoU"
    assert matrix.tasks == ["aachen", "bremen", "zurich"]
    assert np.array(matrix.values).shape == (3, 3)
    assert len(matrix.baseline) == 3


def test_learned_model_beats_the_majority_class(results: dict[str, CaseResult]) -> None:
    assert results["pixel-softmax-kb"].metrics["mIoU"] > results["majority-class"].metrics["mIoU"] + 0.1


def test_naive_fine_tuning_forgets_and_the_knowledge_base_does_not(results: dict[str, CaseResult]) -> None:
    kb, finetune = results["pixel-softmax-kb"].metrics, results["pixel-softmax-finetune"].metrics
    assert finetune["BWT"] < -0.05
    assert kb["BWT"] > finetune["BWT"] + 0.05


def test_knowledge_base_stores_one_snapshot_per_task(results: dict[str, CaseResult]) -> None:
    index = json.loads((Path(results["pixel-softmax-kb"].case_dir) / "kb" / "index.json").read_text())
    assert index["order"] == ["aachen", "bremen", "zurich"]
    for task, entry in index["tasks"].items():
        assert Path(entry["model"]).is_file(), task


def test_lifelong_system_metrics_follow_the_matrix(results: dict[str, CaseResult]) -> None:
    result = results["pixel-softmax-kb"]
    R = np.array(result.matrix.values)
    assert result.metrics["ACC"] == pytest.approx(R[-1].mean())
    assert result.metrics["BWT"] == pytest.approx(np.mean([R[-1, i] - R[i, i] for i in range(2)]))
    b = np.array(result.matrix.baseline)
    assert result.metrics["FWT"] == pytest.approx(np.mean([R[i - 1, i] - b[i] for i in (1, 2)]))
    assert "MATRIX" not in result.metrics


def test_unseen_samples_are_counted_for_the_transfer_ratio(results: dict[str, CaseResult]) -> None:
    # after the last round every test city has a model: nothing is unseen
    assert results["pixel-softmax-kb"].metrics["samples_transfer_ratio"] == 0.0


def test_test_city_without_training_is_routed_to_the_cloud(job_dir: Path, tmp_path: Path) -> None:
    lines = (job_dir / "data" / "train-index.txt").read_text().splitlines()
    write(
        job_dir / "train-two-cities.txt",
        "\n".join(" ".join("data/" + p for p in line.split()) for line in lines if "zurich" not in line) + "\n",
    )
    edit_yaml(
        job_dir / "testenv.yaml", lambda d: d["testenv"]["dataset"].__setitem__("train_index", "./train-two-cities.txt")
    )
    spec = next(s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb")
    result = run_case(spec, tmp_path)
    assert result.ok, result.error
    test_lines = (job_dir / "data" / "test-index.txt").read_text().splitlines()
    zurich = sum("zurich" in line for line in test_lines)
    assert result.metrics["samples_transfer_ratio"] == pytest.approx(zurich / len(test_lines))


def test_single_task_learning_trains_saves_loads_and_scores(job_dir: Path, tmp_path: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"].update(paradigm_type="singletasklearning", modules=[d["algorithm"]["modules"][0]]),
    )
    edit_yaml(
        job_dir / "testenv.yaml",
        lambda d: d["testenv"].__setitem__("metrics", [{"name": "mIoU"}, {"name": "pixel_accuracy"}]),
    )
    spec = next(s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb")
    result = run_case(spec, tmp_path)
    assert result.ok, result.error
    assert result.matrix is None
    assert 0.2 < result.metrics["mIoU"] <= 1.0
    assert (Path(result.case_dir) / "output" / "model" / "model.npz").is_file()
    assert result.per_class["road"] is not None


def test_plugin_metric_from_a_file_is_used(job_dir: Path, tmp_path: Path) -> None:
    write(
        job_dir / "road_share.py",
        """
        import numpy as np
        from controller import register

        @register("road_share")
        def road_share(y_true, y_pred, **kwargs):
            predicted = np.concatenate([p.ravel() for p in y_pred])
            return float((predicted == 0).mean())
    """,
    )
    edit_yaml(
        job_dir / "testenv.yaml",
        lambda d: d["testenv"]["metrics"].append({"name": "road_share", "url": "./road_share.py"}),
    )
    spec = next(s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "majority-class")
    result = run_case(spec, tmp_path)
    assert result.ok, result.error
    assert 0.0 <= result.metrics["road_share"] <= 1.0


def _kept(result: CaseResult) -> list[dict[str, Any]]:
    manifest = Path(result.case_dir or "") / "predictions" / "samples.json"
    return list(json.loads(manifest.read_text())["samples"])


def test_the_final_evaluation_keeps_three_predictions_spread_over_the_test_split(
    results: dict[str, CaseResult], job_dir: Path
) -> None:
    from controller.datasets.index import read_index
    from controller.paradigms.qualitative import spread

    test = read_index(job_dir / "data" / "test-index.txt")
    for result in results.values():
        kept = _kept(result)
        assert [entry["position"] for entry in kept] == spread(len(test), 3)
        assert [entry["rgb"] for entry in kept] == [str(test[entry["position"]].rgb) for entry in kept]
        assert {entry["task"] for entry in kept} == {"aachen", "bremen", "zurich"}  # one per city: the index is sorted


def test_a_kept_prediction_is_the_models_prediction(results: dict[str, CaseResult]) -> None:
    from PIL import Image

    # majority-class predicts one class everywhere: its kept maps hold that class and nothing else
    result = results["majority-class"]
    for entry in _kept(result):
        classes = np.unique(np.asarray(Image.open(Path(result.case_dir or "") / "predictions" / entry["prediction"])))
        assert classes.size == 1 and int(classes[0]) < 19


def test_single_task_learning_keeps_its_predictions_too(job_dir: Path, tmp_path: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"].update(paradigm_type="singletasklearning", modules=[d["algorithm"]["modules"][0]]),
    )
    edit_yaml(job_dir / "testenv.yaml", lambda d: d["testenv"].__setitem__("metrics", [{"name": "mIoU"}]))
    spec = next(s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb")
    assert len(_kept(run_case(spec, tmp_path))) == 3


@pytest.mark.parametrize(
    ("total", "count", "expected"), [(9, 3, [0, 4, 8]), (2, 3, [0, 1]), (0, 3, []), (5, 1, [0]), (10, 3, [0, 4, 9])]
)
def test_kept_positions_spread_evenly_first_and_last_included(total: int, count: int, expected: list[int]) -> None:
    from controller.paradigms.qualitative import spread

    assert spread(total, count) == expected


COUNTING_MODEL = """
    from controller import register
    from controller.algorithms.pixel_softmax import PixelSoftmaxSegmenter

    LOADS = []  # the snapshot path of every load

    @register("CountingSoftmax")
    class CountingSoftmax(PixelSoftmaxSegmenter):
        def load(self, path):
            LOADS.append(str(path))
            return super().load(path)
"""


def _kb_case_counting_loads(job_dir: Path, tmp_path: Path) -> tuple[CaseResult, list[str]]:
    write(job_dir / "counting.py", COUNTING_MODEL)
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"].__setitem__(
            0, {**d["algorithm"]["modules"][0], "name": "CountingSoftmax", "url": "./counting.py"}
        ),
    )
    loads = sys.modules[load_plugin(str(job_dir / "counting.py"), "CountingSoftmax").__module__].LOADS
    loads.clear()  # the plugin module is imported once per process
    spec = next(s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb")
    return run_case(spec, tmp_path), list(loads)


def test_each_knowledge_base_snapshot_is_loaded_once_for_all_rounds(job_dir: Path, tmp_path: Path) -> None:
    result, loads = _kb_case_counting_loads(job_dir, tmp_path)
    assert result.ok, result.error
    index = json.loads((Path(result.case_dir) / "kb" / "index.json").read_text())
    assert sorted(loads) == sorted(entry["model"] for entry in index["tasks"].values())


def test_snapshots_beyond_the_kept_number_are_loaded_again_with_the_same_results(
    job_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_all, _ = _kb_case_counting_loads(job_dir, tmp_path / "all")
    monkeypatch.setattr("controller.paradigms.lifelong.LOADED_SNAPSHOTS", 1)
    kept_one, loads = _kb_case_counting_loads(job_dir, tmp_path / "one")
    assert kept_one.ok, kept_one.error
    assert len(loads) > len(set(loads)) == 3
    assert kept_one.matrix is not None and kept_all.matrix is not None
    assert kept_one.matrix.values == kept_all.matrix.values
    assert kept_one.metrics["mIoU"] == kept_all.metrics["mIoU"]
