"""Specification of controller.metrics.registry: built-in metrics by YAML name, and FunctionMetric."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from controller.metrics.lifelong import LifelongInfo
from controller.metrics.registry import (
    BuiltinMetric,
    FunctionMetric,
    builtin_names,
    get_builtin,
    is_builtin,
)

SAMPLE_NAMES = [
    "accuracy",
    "f1_score",
    "pixel_accuracy",
    "mean_class_accuracy",
    "CPA",
    "mIoU",
    "miou",
    "mean_iou",
    "fwIoU",
]
SYSTEM_NAMES = [
    "ACC",
    "BWT",
    "FWT",
    "BWT_ianvs",
    "FWT_ianvs",
    "task_avg_acc",
    "forgetting",
    "samples_transfer_ratio",
    "MATRIX",
]


def test_builtin_names_are_exactly_the_documented_names_and_aliases():
    assert builtin_names() == sorted(SAMPLE_NAMES + SYSTEM_NAMES)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_metrics_have_a_factory(name):
    metric = get_builtin(name)
    assert (metric.kind, metric.compute) == ("sample", None)
    assert callable(metric.make)


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_system_metrics_have_a_compute_function(name):
    metric = get_builtin(name)
    assert (metric.kind, metric.make) == ("system", None)
    assert callable(metric.compute)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("CPA", "mean_class_accuracy"), ("miou", "mIoU"), ("mean_iou", "mIoU")],
)
def test_aliases_resolve_to_the_canonical_metric(alias, canonical):
    assert get_builtin(alias) is get_builtin(canonical)
    assert get_builtin(alias).name == canonical


@pytest.mark.parametrize("name", ["MIOU", "Accuracy", "bwt", "acc", "matrix", "", "forget_rate"])
def test_names_are_case_sensitive_and_unknown_names_are_not_builtin(name):
    assert not is_builtin(name)


def test_unknown_name_raises_key_error_listing_known_names():
    with pytest.raises(KeyError, match="unknown built-in metric 'MIOU'.*mIoU.*samples_transfer_ratio"):
        get_builtin("MIOU")


@pytest.mark.parametrize("name", [None, 3])
def test_non_string_name_is_unknown(name):
    assert not is_builtin(name)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        get_builtin(name)  # type: ignore[arg-type]


# Two label maps (C = 3) that together form the worked example of test_metrics_segmentation:
#   valid pixels (gt, pred): (0,0) (0,1) (1,1) | (1,255) (2,2); (255,0) is ignored.
#   pixel accuracy 3/5, class accuracy (1/2 + 1/2 + 1)/3 = 2/3,
#   IoU [1/2, 1/3, 1] -> mIoU 11/18, fwIoU 2/5*1/2 + 2/5*1/3 + 1/5*1 = 8/15
SAMPLES = [
    (np.array([0, 0, 1], dtype=np.uint8), np.array([0, 1, 1], dtype=np.uint8)),
    (np.array([1, 2, 255], dtype=np.uint8), np.array([255, 2, 0], dtype=np.uint8)),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", 3 / 5),
        ("pixel_accuracy", 3 / 5),
        ("mean_class_accuracy", 2 / 3),
        ("CPA", 2 / 3),
        ("mIoU", 11 / 18),
        ("miou", 11 / 18),
        ("mean_iou", 11 / 18),
        ("fwIoU", 8 / 15),
    ],
)
def test_sample_metric_on_label_maps(name, expected):
    acc = get_builtin(name).make(3, 255)
    for gt, pred in SAMPLES:
        acc.update(gt, pred)
    assert acc.result() == pytest.approx(expected)


def test_each_make_returns_an_independent_accumulator():
    make = get_builtin("mIoU").make
    first, second = make(3, 255), make(3, 255)
    first.update(np.array([0]), np.array([1]))  # IoU0 = 0, IoU1 = 0 -> 0
    second.update(np.array([0]), np.array([0]))  # IoU0 = 1 -> 1
    assert (first.result(), second.result()) == (0.0, 1.0)


def test_accuracy_of_scalar_labels():
    # (1,1) right, (2,0) wrong, (3,3) right -> 2/3
    acc = get_builtin("accuracy").make(19, 255)
    for t, p in [(1, 1), (2, 0), (3, 3)]:
        acc.update(t, p)
    assert acc.result() == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "samples",
    [
        [(1, 1), (np.array([1, 2]), np.array([1, 2]))],
        [(np.array([1, 2]), np.array([1, 2])), (1, 1)],
        [(1, np.array([1, 2]))],
    ],
    ids=["map after scalar", "scalar after map", "scalar label with map prediction"],
)
def test_accuracy_refuses_mixing_scalars_and_maps(samples):
    acc = get_builtin("accuracy").make(3, 255)
    with pytest.raises(ValueError, match="accuracy"):
        for t, p in samples:
            acc.update(t, p)


def test_f1_score_is_macro_over_scalar_labels():
    # same data as test_metrics_classification: F1 per class [1/2, 4/5, 0] -> 13/30
    acc = get_builtin("f1_score").make(3, 255)
    for t, p in zip([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]):
        acc.update(t, p)
    assert acc.result() == pytest.approx(13 / 30)


def test_f1_score_refuses_label_maps():
    with pytest.raises(ValueError, match="one label per sample"):
        get_builtin("f1_score").make(3, 255).update(np.array([0, 1]), np.array([0, 1]))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_result_without_samples_is_an_error(name):
    with pytest.raises(ValueError, match="before any sample"):
        get_builtin(name).make(3, 255).result()


@pytest.mark.parametrize("name", ["pixel_accuracy", "mIoU", "fwIoU", "mean_class_accuracy"])
def test_segmentation_factories_validate_num_classes(name):
    with pytest.raises(ValueError, match="num_classes"):
        get_builtin(name).make(0, 255)


# Same lifelong record as test_metrics_lifelong (hand-computed values there).
INFO = LifelongInfo(
    R=[[0.8, 0.1, 0.2], [0.6, 0.9, 0.3], [0.5, 0.7, 0.95]],
    baseline=[0.1, 0.05, 0.15],
    tasks=["front", "garden", "street"],
    transferred=3,
    inferred=12,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ACC", 2.15 / 3),
        ("task_avg_acc", 2.15 / 3),
        ("BWT", -0.25),
        ("FWT", 0.1),
        ("forgetting", 0.25),
        ("BWT_ianvs", 1.85 / 9),
        ("FWT_ianvs", 0.2 / 3),
        ("samples_transfer_ratio", 0.25),  # 3 / 12
    ],
)
def test_system_metric_values(name, expected):
    value = get_builtin(name).compute(INFO)
    assert isinstance(value, float)
    assert value == pytest.approx(expected)


def test_matrix_is_json_list_of_lists():
    value = get_builtin("MATRIX").compute(INFO)
    assert json.loads(json.dumps(value)) == INFO.R
    assert all(isinstance(x, float) for row in value for x in row)


def test_matrix_refuses_ragged_rows():
    ragged = LifelongInfo(R=[[1.0, 2.0], [1.0]], baseline=[0.0, 0.0], tasks=["a", "b"])
    with pytest.raises(ValueError, match="row 1"):
        get_builtin("MATRIX").compute(ragged)


def test_builtin_metric_needs_the_callable_of_its_kind():
    with pytest.raises(ValueError, match="needs its make/compute"):
        BuiltinMetric("x", "sample", compute=lambda info: 0.0)


def test_function_metric_calls_the_plugin_once_with_all_samples():
    calls = []

    def plugin(y_true, y_pred, **kw):
        calls.append((list(y_true), list(y_pred), kw))
        return 0.5

    metric = FunctionMetric(plugin, scale=2)
    metric.update(1, 1)
    metric.update(2, 3)
    assert metric.result() == 0.5
    assert calls == [([1, 2], [1, 3], {"scale": 2})]
    assert metric.name == "plugin"


def test_function_metric_converts_numpy_results_to_float():
    metric = FunctionMetric(lambda t, p: np.float32(0.25), name="quarter")
    metric.update(0, 0)
    value = metric.result()
    assert type(value) is float and value == 0.25


def test_function_metric_rejects_non_numeric_result():
    metric = FunctionMetric(lambda t, p: {"miou": 1.0}, name="dicty")
    metric.update(0, 0)
    with pytest.raises(TypeError, match="'dicty' must return a number, returned dict"):
        metric.result()


def test_function_metric_without_samples_is_an_error():
    with pytest.raises(ValueError, match="before any sample"):
        FunctionMetric(lambda t, p: 1.0, name="one").result()


def test_function_metric_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        FunctionMetric(3)  # type: ignore[arg-type]


def test_lookup_by_name_imports_neither_numpy_nor_heavy_libraries():
    code = (
        "import sys, controller\n"
        "numpy_before = 'numpy' in sys.modules\n"
        "import controller.metrics\n"
        "from controller.metrics import get_builtin, is_builtin, builtin_names\n"
        "get_builtin('mIoU'); get_builtin('BWT'); is_builtin('ACC'); builtin_names()\n"
        "assert ('numpy' in sys.modules) == numpy_before, 'numpy imported by a name lookup'\n"
        "heavy = [m for m in ('matplotlib', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
