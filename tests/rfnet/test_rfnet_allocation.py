"""Learned task allocation (domain classifier) and confidence-based unseen-task detection.

The paradigm-level tests use the cheap PixelSoftmaxSegmenter (a subclass that reports confidences),
so they check the wiring of controller/paradigms/lifelong.py, not RFNet's accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controller.algorithms.rfnet.confidence import UnseenTaskByConfidence
from controller.algorithms.rfnet.domain import TaskAllocationByDomainClassifier
from controller.config.loader import load_job
from controller.datasets.images import write_png
from controller.datasets.index import Sample, read_index
from controller.plan import build_plan
from controller.plugins.context import Context
from controller.plugins.loader import load_plugin
from controller.runtime.case import run_case
from tests.conftest import edit_yaml, write


def _flat(tmp: Path, name: str, grey: int) -> Sample:
    rgb = write_png(tmp / f"{name}.png", np.full((8, 16, 3), grey, np.uint8))
    return Sample((rgb,), rgb, tmp / "index.txt", 1)


# ------------------------------------------------------------ domain classifier


def test_domain_classifier_picks_the_task_whose_images_look_alike(tmp_path: Path) -> None:
    classifier = TaskAllocationByDomainClassifier()
    classifier.learn("dark", [_flat(tmp_path, "d1", 20), _flat(tmp_path, "d2", 30)])
    classifier.learn("bright", [_flat(tmp_path, "b1", 220), _flat(tmp_path, "b2", 230)])
    probes = [_flat(tmp_path, "p1", 40), _flat(tmp_path, "p2", 200)]
    assert classifier.allocate(probes, ["dark", "bright"]) == ["dark", "bright"]


def test_domain_classifier_only_allocates_known_tasks(tmp_path: Path) -> None:
    classifier = TaskAllocationByDomainClassifier()
    assert classifier.allocate([_flat(tmp_path, "p", 10)], ["dark"]) == [None]  # nothing learned yet
    classifier.learn("dark", [_flat(tmp_path, "d", 20)])
    classifier.learn("bright", [_flat(tmp_path, "b", 220)])
    assert classifier.allocate([_flat(tmp_path, "p", 215)], ["dark"]) == ["dark"]  # bright is not in the KB


def test_an_ambiguous_image_is_left_unallocated_below_min_posterior(tmp_path: Path) -> None:
    # one histogram bin: only the grid means differ, and 128 is exactly 28 grey levels from both tasks
    classifier = TaskAllocationByDomainClassifier(histogram_bins=1, min_posterior=0.6)
    classifier.learn("a", [_flat(tmp_path, "a", 100)])
    classifier.learn("b", [_flat(tmp_path, "b", 156)])
    probe = [_flat(tmp_path, "p", 128)]
    assert classifier.posteriors(probe, ["a", "b"])[0] == pytest.approx([0.5, 0.5])
    assert classifier.allocate(probe, ["a", "b"]) == [None]


def test_domain_classifier_recognises_every_synthetic_city(tiny_dataset: Path, tmp_path: Path) -> None:
    classifier = TaskAllocationByDomainClassifier()
    train, test = read_index(tiny_dataset / "train-index.txt"), read_index(tiny_dataset / "test-index.txt")
    context = Context(workspace=tmp_path)
    for city in ("aachen", "bremen", "zurich"):
        classifier.learn(city, [s for s in train if s.city == city], context=context)
    assert classifier.allocate(test, ["aachen", "bremen", "zurich"]) == [s.city for s in test]
    state = json.loads((tmp_path / "task_allocation" / "domain_classifier.json").read_text())
    assert {t: v["samples"] for t, v in state["tasks"].items()} == {"aachen": 6, "bremen": 6, "zurich": 6}


@pytest.mark.parametrize("bad", [{"grid_rows": 0}, {"histogram_bins": 1.5}, {"min_posterior": 2}])
def test_domain_classifier_refuses_bad_settings(bad: dict) -> None:
    with pytest.raises(ValueError):
        TaskAllocationByDomainClassifier(**bad)


# ------------------------------------------------------------ confidence recogniser


@pytest.mark.parametrize(
    ("threshold", "unallocated", "allocations", "confidences", "expected"),
    [
        (0.5, True, ["a", "a", "a"], [0.2, 0.5, 0.9], [True, False, False]),  # strictly below is unseen
        (0.5, True, [None, "a", "x"], [0.9, 0.9, 0.9], [True, False, True]),  # no / unknown model
        (0.5, False, [None, "a"], [0.9, 0.1], [False, True]),  # confidence only
        (0.0, False, ["a"], [0.0], [False]),
    ],
)
def test_confidence_recogniser(
    threshold: float, unallocated: bool, allocations: list, confidences: list, expected: list
) -> None:
    recogniser = UnseenTaskByConfidence(threshold, unallocated_is_unseen=unallocated)
    samples = [None] * len(allocations)
    assert recogniser.recognize(samples, allocations, ["a"], confidences=confidences) == expected  # type: ignore[arg-type]


def test_confidence_recogniser_without_confidences_explains_what_is_missing() -> None:
    with pytest.raises(ValueError, match="predict_confidence"):
        UnseenTaskByConfidence().recognize([], [], [])


# ------------------------------------------------------------ wiring in the lifelong paradigm

CONFIDENT_MODEL = """
    from controller import register
    from controller.algorithms.pixel_softmax import PixelSoftmaxSegmenter

    CALLS = []  # (method, origin, city, round) of every inference after the last round

    @register("ConfidentSoftmax")
    class ConfidentSoftmax(PixelSoftmaxSegmenter):
        '''Confidence 0.1 on aachen images, 0.9 elsewhere; remembers whether it was trained or loaded.'''
        origin = "new"

        def train(self, *args, **kwargs):
            self.origin = "trained"
            return super().train(*args, **kwargs)

        def load(self, path):
            self.origin = "loaded"
            return super().load(path)

        def _record(self, method, data, context):
            if context.task is None and context.round:
                CALLS.extend((method, self.origin, s.city) for s in data)

        def predict(self, data, *, context, **kw):
            self._record("predict", data, context)
            return super().predict(data, context=context)

        def predict_confidence(self, data, *, context, **kw):
            self._record("predict_confidence", data, context)
            maps = super().predict(data, context=context)
            return maps, [0.1 if s.city == "aachen" else 0.9 for s in data]
"""


def _confidence_job(job_dir: Path, allocation: dict, recogniser: dict) -> Path:
    write(job_dir / "confident.py", CONFIDENT_MODEL)

    def change(data: dict) -> None:
        modules = data["algorithm"]["modules"]
        modules[0] = {"type": "basemodel", "name": "ConfidentSoftmax", "url": "./confident.py"}
        modules[2] = {"type": "task_allocation", **allocation}
        modules[3] = {"type": "unseen_sample_recognition", **recogniser}

    edit_yaml(job_dir / "algorithm-kb.yaml", change)
    return job_dir / "benchmarkingjob.yaml"


def _run_kb_case(job: Path, workspace: Path):  # type: ignore[no-untyped-def]
    spec = next(s for s in build_plan(load_job(job)) if s.algorithm == "pixel-softmax-kb")
    return run_case(spec, workspace)


def test_low_confidence_samples_are_counted_and_served_by_the_cloud(job_dir: Path, tmp_path: Path) -> None:
    job = _confidence_job(
        job_dir,
        {"name": "TaskAllocationByAttribute"},
        {"name": "UnseenTaskByConfidence", "hyperparameters": [{"threshold": {"values": [0.5]}}]},
    )
    result = _run_kb_case(job, tmp_path)
    assert result.ok, result.error
    test = read_index(job_dir / "data" / "test-index.txt")
    aachen = sum(s.city == "aachen" for s in test)
    assert result.metrics["samples_transfer_ratio"] == pytest.approx(aachen / len(test))
    calls = load_plugin(str(job_dir / "confident.py"), "ConfidentSoftmax").__module__
    recorded = __import__("sys").modules[calls].CALLS
    # every test image is scored once by its city's snapshot; only aachen images go on to the cloud model
    assert sorted(c for m, o, c in recorded if m == "predict_confidence") == sorted(s.city for s in test)
    scorers = {origin for method, origin, _ in recorded if method == "predict_confidence"}
    assert scorers == {"loaded"}  # the knowledge-base snapshots, not the latest in-memory model
    assert [(o, c) for m, o, c in recorded if m == "predict"] == [("trained", "aachen")] * aachen


def test_a_confidence_recogniser_needs_a_model_that_reports_confidence(job_dir: Path, tmp_path: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"].__setitem__(
            3, {"type": "unseen_sample_recognition", "name": "UnseenTaskByConfidence"}
        ),
    )
    result = _run_kb_case(job_dir / "benchmarkingjob.yaml", tmp_path)
    assert not result.ok
    assert "PixelSoftmaxSegmenter has no predict_confidence" in result.error


def test_domain_classifier_allocation_keeps_each_city_s_snapshot(job_dir: Path, tmp_path: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"].__setitem__(
            2, {"type": "task_allocation", "name": "TaskAllocationByDomainClassifier"}
        ),
    )
    result = _run_kb_case(job_dir / "benchmarkingjob.yaml", tmp_path)
    assert result.ok, result.error
    R = np.array(result.matrix.values)
    assert R[-1].tolist() == pytest.approx(np.diag(R).tolist())  # no forgetting: BWT 0
    assert (Path(result.case_dir) / "task_allocation" / "domain_classifier.json").is_file()
