"""Metrics: segmentation (confusion-matrix mIoU etc.), classification, lifelong (GEM and Ianvs variants).

Importing this package is cheap: names are resolved lazily (PEP 562), so ``controller.metrics``
does not import numpy until a metric module is actually used, and never imports matplotlib/torch.

Submodules:
    segmentation: ConfusionMatrix, iou_per_class, mean_iou, pixel_accuracy, mean_class_accuracy,
        frequency_weighted_iou
    classification: accuracy, f1_score
    lifelong: LifelongInfo, acc, bwt, fwt, task_avg_acc, forgetting, ianvs_matrix, bwt_ianvs,
        fwt_ianvs, samples_transfer_ratio, samples_transfer_ratio_ianvs
    registry: BuiltinMetric, FunctionMetric, get_builtin, builtin_names, is_builtin
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ConfusionMatrix",
            "iou_per_class",
            "mean_iou",
            "pixel_accuracy",
            "mean_class_accuracy",
            "frequency_weighted_iou",
        ),
        "segmentation",
    ),
    **dict.fromkeys(("accuracy", "f1_score"), "classification"),
    **dict.fromkeys(
        (
            "LifelongInfo",
            "acc",
            "bwt",
            "fwt",
            "task_avg_acc",
            "forgetting",
            "ianvs_matrix",
            "bwt_ianvs",
            "fwt_ianvs",
            "samples_transfer_ratio",
            "samples_transfer_ratio_ianvs",
        ),
        "lifelong",
    ),
    **dict.fromkeys(("BuiltinMetric", "FunctionMetric", "get_builtin", "builtin_names", "is_builtin"), "registry"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
