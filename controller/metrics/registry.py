"""Built-in metrics by the name a testenv YAML uses, and the adapter for plugin metric functions.

Two kinds, because they consume different data:

* ``sample`` metrics score predictions. ``make(num_classes, ignore_index)`` returns a fresh
  accumulator; the paradigm calls ``update(y_true, y_pred)`` once per sample (a label map or a
  scalar label) and ``result()`` once at the end, so segmentation scores are dataset-level.
* ``system`` metrics read the lifelong record (:class:`~controller.metrics.lifelong.LifelongInfo`).

Names are case-sensitive, as in Ianvs. Looking a name up imports nothing heavy (not even numpy):
the metric modules are imported when an accumulator is made or a system metric computed.

Note: Ianvs's segmentation examples register a plugin called ``accuracy`` that returns mIoU.
The built-in ``accuracy`` here is pixel accuracy; use ``mIoU`` for mIoU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from controller.metrics.lifelong import LifelongInfo
    from controller.metrics.segmentation import ConfusionMatrix

__all__ = [
    "Accumulator",
    "BuiltinMetric",
    "FunctionMetric",
    "get_builtin",
    "builtin_names",
    "is_builtin",
]

SystemValue = float | list[list[float]]


class Accumulator(Protocol):
    """Collects one sample at a time and scores them all at the end."""

    def update(self, y_true: Any, y_pred: Any) -> None: ...

    def result(self) -> float: ...


@dataclass(frozen=True)
class BuiltinMetric:
    """A metric the framework provides without a plugin.

    Attributes:
        name: canonical name (aliases resolve to the same object).
        kind: ``"sample"`` (use :attr:`make`) or ``"system"`` (use :attr:`compute`).
        make: ``(num_classes, ignore_index) -> Accumulator`` for sample metrics.
        compute: ``(LifelongInfo) -> float | list[list[float]]`` for system metrics.
        aliases: other accepted names.
    """

    name: str
    kind: Literal["sample", "system"]
    make: Callable[[int, int], Accumulator] | None = None
    compute: Callable[[LifelongInfo], SystemValue] | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        wanted = {"sample": self.make, "system": self.compute}
        if self.kind not in wanted or wanted[self.kind] is None:
            raise ValueError(f"built-in metric {self.name!r}: kind {self.kind!r} needs its make/compute")


def _no_samples(name: str) -> ValueError:
    return ValueError(f"metric {name!r}: result() called before any sample was added")


def _is_map(sample: Any) -> bool:
    import numpy as np

    return bool(np.ndim(sample) > 0)


class _ConfusionMetric:
    """Accumulates a segmentation ConfusionMatrix and reduces it with one segmentation function."""

    def __init__(self, name: str, reduce: str, num_classes: int, ignore_index: int) -> None:
        from controller.metrics import segmentation

        self.name = name
        self._reduce = getattr(segmentation, reduce)
        self._cm = segmentation.ConfusionMatrix(num_classes, ignore_index)
        self._samples = 0

    def update(self, y_true: Any, y_pred: Any) -> None:
        self._cm.update(y_true, y_pred)
        self._samples += 1

    def result(self) -> float:
        if not self._samples:
            raise _no_samples(self.name)
        return float(self._reduce(self._cm))


def _confusion_factory(name: str, reduce: str) -> Callable[[int, int], Accumulator]:
    def make(num_classes: int, ignore_index: int) -> Accumulator:
        return _ConfusionMetric(name, reduce, num_classes, ignore_index)

    make.__doc__ = f"Accumulator for {name} (segmentation.{reduce} over a dataset-level confusion matrix)."
    return make


class _AccuracyMetric:
    """Plain accuracy for scalar labels; dataset-level pixel accuracy for label maps.

    The first sample fixes the mode; mixing scalars and maps later is a ValueError. In map mode
    the segmentation conventions apply (gt == ignore_index or outside [0, C) dropped; a prediction
    outside [0, C) is wrong). Scalar labels are compared as they are (no ignore index).
    """

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        self._num_classes = num_classes
        self._ignore_index = ignore_index
        self._mode: Literal["scalar", "map"] | None = None
        self._correct = 0
        self._count = 0
        self._cm: ConfusionMatrix | None = None

    def update(self, y_true: Any, y_pred: Any) -> None:
        mode: Literal["scalar", "map"] = "map" if _is_map(y_true) else "scalar"
        if self._mode is not None and mode != self._mode:
            raise ValueError(f"metric 'accuracy': got a {mode} sample after {self._mode} samples")
        if mode == "map":
            if self._cm is None:
                from controller.metrics.segmentation import ConfusionMatrix

                self._cm = ConfusionMatrix(self._num_classes, self._ignore_index)
            self._cm.update(y_true, y_pred)
        else:
            if _is_map(y_pred):
                raise ValueError("metric 'accuracy': scalar label but array prediction")
            self._correct += int(bool(y_true == y_pred))
        self._mode = mode
        self._count += 1

    def result(self) -> float:
        if not self._count:
            raise _no_samples("accuracy")
        if self._cm is not None:
            from controller.metrics.segmentation import pixel_accuracy

            return pixel_accuracy(self._cm)
        return self._correct / self._count


class _F1Metric:
    """Macro F1 over scalar labels (see classification.f1_score)."""

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        self._true: list[Any] = []
        self._pred: list[Any] = []

    def update(self, y_true: Any, y_pred: Any) -> None:
        if _is_map(y_true) or _is_map(y_pred):
            raise ValueError("metric 'f1_score' scores one label per sample; got an array")
        self._true.append(y_true)
        self._pred.append(y_pred)

    def result(self) -> float:
        if not self._true:
            raise _no_samples("f1_score")
        from controller.metrics.classification import f1_score

        return f1_score(self._true, self._pred, average="macro")


class FunctionMetric:
    """Adapts a plugin function ``f(y_true_list, y_pred_list, **kw) -> float`` to an Accumulator.

    Samples are collected and ``f`` is called once in :meth:`result` (Ianvs calls plugin metrics
    once with the whole test set, so plugins written for Ianvs work unchanged).
    """

    def __init__(self, func: Callable[..., Any], *, name: str | None = None, **kwargs: Any) -> None:
        if not callable(func):
            raise TypeError(f"FunctionMetric needs a callable, got {type(func).__name__}")
        self.func = func
        self.name: str = name if name else getattr(func, "__name__", repr(func))
        self.kwargs = kwargs
        self._true: list[Any] = []
        self._pred: list[Any] = []

    def update(self, y_true: Any, y_pred: Any) -> None:
        self._true.append(y_true)
        self._pred.append(y_pred)

    def result(self) -> float:
        if not self._true:
            raise _no_samples(self.name)
        value = self.func(self._true, self._pred, **self.kwargs)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {self.name!r} must return a number, returned {type(value).__name__}: {value!r}"
            ) from None


def _system(fn_name: str, *, with_baseline: bool = False, ianvs: bool = False) -> Callable[[LifelongInfo], float]:
    """System metric computed by ``lifelong.<fn_name>`` from R (and baseline / Ianvs's matrix)."""

    def compute(info: LifelongInfo) -> float:
        from controller.metrics import lifelong

        fn = getattr(lifelong, fn_name)
        if ianvs:
            return float(fn(lifelong.ianvs_matrix(info.R, info.baseline)))
        if with_baseline:
            return float(fn(info.R, info.baseline))
        return float(fn(info.R))

    compute.__doc__ = f"lifelong.{fn_name} of the lifelong record."
    return compute


def _samples_transfer_ratio(info: LifelongInfo) -> float:
    from controller.metrics.lifelong import samples_transfer_ratio

    return samples_transfer_ratio(info.transferred, info.inferred)


def _matrix(info: LifelongInfo) -> list[list[float]]:
    """R as a JSON-ready list of lists of floats (validated: rectangular, numeric)."""
    from controller.metrics.lifelong import _square

    return [[float(x) for x in row] for row in _square(info.R)]


_BUILTINS: tuple[BuiltinMetric, ...] = (
    BuiltinMetric("accuracy", "sample", make=_AccuracyMetric),
    BuiltinMetric("f1_score", "sample", make=_F1Metric),
    BuiltinMetric("pixel_accuracy", "sample", make=_confusion_factory("pixel_accuracy", "pixel_accuracy")),
    BuiltinMetric(
        "mean_class_accuracy",
        "sample",
        make=_confusion_factory("mean_class_accuracy", "mean_class_accuracy"),
        aliases=("CPA",),
    ),
    BuiltinMetric("mIoU", "sample", make=_confusion_factory("mIoU", "mean_iou"), aliases=("miou", "mean_iou")),
    BuiltinMetric("fwIoU", "sample", make=_confusion_factory("fwIoU", "frequency_weighted_iou")),
    BuiltinMetric("ACC", "system", compute=_system("acc")),
    BuiltinMetric("BWT", "system", compute=_system("bwt")),
    BuiltinMetric("FWT", "system", compute=_system("fwt", with_baseline=True)),
    BuiltinMetric("BWT_ianvs", "system", compute=_system("bwt_ianvs", ianvs=True)),
    BuiltinMetric("FWT_ianvs", "system", compute=_system("fwt_ianvs", ianvs=True)),
    BuiltinMetric("task_avg_acc", "system", compute=_system("task_avg_acc")),
    BuiltinMetric("forgetting", "system", compute=_system("forgetting")),
    BuiltinMetric("samples_transfer_ratio", "system", compute=_samples_transfer_ratio),
    BuiltinMetric("MATRIX", "system", compute=_matrix),
)

_BY_NAME: dict[str, BuiltinMetric] = {alias: metric for metric in _BUILTINS for alias in (metric.name, *metric.aliases)}


def builtin_names() -> list[str]:
    """Every accepted name, aliases included, sorted."""
    return sorted(_BY_NAME)


def is_builtin(name: str) -> bool:
    """True if `name` (case-sensitive) is a built-in metric or alias."""
    return isinstance(name, str) and name in _BY_NAME


def get_builtin(name: str) -> BuiltinMetric:
    """The built-in metric called `name`; KeyError listing the known names otherwise."""
    if is_builtin(name):
        return _BY_NAME[name]
    raise KeyError(f"unknown built-in metric {name!r}; known names: {', '.join(builtin_names())}")
