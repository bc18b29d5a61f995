"""What every paradigm shares: plugin instances, data, contexts and evaluation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from controller.datasets.index import Sample, read_index
from controller.paradigms.evaluation import Evaluation, Keep, MetricSuite, Predict, evaluate
from controller.paradigms.qualitative import PredictionKeeper
from controller.plan import CaseSpec, ModuleSpec
from controller.plugins.context import Context
from controller.plugins.loader import load_plugin
from controller.results import AccuracyMatrix

log = logging.getLogger(__name__)


@dataclass
class ParadigmOutput:
    metrics: dict[str, Any]
    matrix: AccuracyMatrix | None = None
    per_task: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: dict[str, float | None] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    efficiency: dict[str, float | None] = field(default_factory=dict)
    """what the paradigm measured of the case's cost (`efficiency`); the runtime adds time, CPU and memory"""


class Paradigm:
    def __init__(self, spec: CaseSpec, context: Context) -> None:
        self.spec = spec
        self.context = context
        env = spec.testenv
        self.suite = MetricSuite(env.metrics, env.num_classes, env.ignore_index)
        self.class_names = tuple(context.class_names) or tuple(str(i) for i in range(env.num_classes))
        self._basemodel = self._module("basemodel", required=True)
        self.evaluate_seconds = 0.0
        """wall time of every evaluation so far (baseline, validation, rounds, final inference)"""

    def run(self) -> ParadigmOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ plugins

    @overload
    def _module(self, type_: str, *, required: Literal[True]) -> ModuleSpec: ...
    @overload
    def _module(self, type_: str, *, required: bool = False, default: str) -> ModuleSpec: ...
    @overload
    def _module(self, type_: str, *, required: bool = False, default: None = None) -> ModuleSpec | None: ...

    def _module(self, type_: str, *, required: bool = False, default: str | None = None) -> ModuleSpec | None:
        module = self.spec.module(type_)
        if module is None:
            if required:
                raise ValueError(f"algorithm {self.spec.algorithm!r} has no {type_} module")
            if default is None:
                return None
            module = ModuleSpec(type_, default, None, {})
        return module

    def instantiate(self, module: ModuleSpec) -> Any:
        factory = load_plugin(module.url, module.name)
        try:
            return factory(**module.hyperparameters)
        except TypeError as exc:
            raise ValueError(
                f"{module.type} {module.name}: bad hyperparameters {sorted(module.hyperparameters)}: {exc}"
            ) from None

    def new_model(self) -> Any:
        return self.instantiate(self._basemodel)

    # ------------------------------------------------------------ data and evaluation

    def load_data(self) -> tuple[list[Sample], list[Sample]]:
        return read_index(self.spec.testenv.train_index), read_index(self.spec.testenv.test_index)

    def evaluate(self, model: Any, samples: Sequence[Sample], context: Context, keep: Keep | None = None) -> Evaluation:
        return self.timed(evaluate(lambda batch: model.predict(batch, context=context), samples, self.suite, keep))

    def final_evaluation(self, predict: Predict, test: Sequence[Sample], context: Context) -> Evaluation:
        """The evaluation that gives the case's metrics, a few of its predictions kept for the report."""
        keeper = PredictionKeeper(context.workspace, len(test))
        evaluation = self.timed(evaluate(predict, test, self.suite, keeper))
        keeper.write()
        return evaluation

    def timed(self, evaluation: Evaluation) -> Evaluation:
        """``evaluation``, its time added to the case's evaluation time."""
        self.evaluate_seconds += evaluation.seconds
        return evaluation

    def efficiency(self, rounds: Sequence[dict[str, Any]], inference: Evaluation, model: Any) -> dict[str, Any]:
        """The case's cost as the paradigm sees it: time per phase, inference on the test split, model size."""
        return {
            "train_time_s": round(sum(float(r.get("train_seconds", 0.0)) for r in rounds), 3),
            "evaluate_time_s": round(self.evaluate_seconds, 3),
            **inference.inference(),
            "model_parameters": model_parameters(model),
        }

    @property
    def matrix_metric(self) -> str:
        """The metric of the accuracy matrix: model_eval's metric, else the first sample metric."""
        if self.spec.testenv.model_metric is not None:
            return self.spec.testenv.model_metric.name
        sample = self.suite.sample_metrics()
        if not sample:
            raise ValueError("testenv lists no sample-level metric (e.g. mIoU) to fill the accuracy matrix")
        return sample[0].name


def model_parameters(model: Any) -> int | None:
    """The model's parameter count when it says (``num_parameters()``, optional for a basemodel), else None."""
    count = getattr(model, "num_parameters", None)
    if not callable(count):
        return None
    try:
        value = count()
    except Exception as exc:  # noqa: BLE001 - a count is a nicety; the case's result does not depend on it
        log.warning("%s.num_parameters() failed: %s; parameter count left empty", type(model).__name__, exc)
        return None
    return int(value) if value is not None else None


def scalar_metrics(values: dict[str, Any]) -> dict[str, Any]:
    """Metrics as JSON-friendly values (numpy scalars -> float, NaN stays NaN for the writer)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, (np.floating, np.integer)):
            value = float(value)
        out[name] = value
    return out
