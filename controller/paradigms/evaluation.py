"""Run a model over samples and accumulate metrics without holding every prediction in memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controller.config.loader import MetricSpec
from controller.datasets.images import read_label
from controller.datasets.index import Sample
from controller.metrics.registry import FunctionMetric, get_builtin, is_builtin
from controller.metrics.segmentation import ConfusionMatrix, iou_per_class
from controller.plugins.loader import load_plugin

Predict = Callable[[list[Sample]], Sequence[np.ndarray]]
Keep = Callable[[int, Sample, np.ndarray], None]
"""called with each sample's position, the sample and its prediction (controller/paradigms/qualitative.py)"""
BATCH = 8


@dataclass
class MetricSuite:
    """The sample-level metrics of a test environment (built-ins and plugin functions)."""

    specs: tuple[MetricSpec, ...]
    num_classes: int
    ignore_index: int

    def sample_metrics(self) -> list[MetricSpec]:
        return [m for m in self.specs if m.url or get_builtin(m.name).kind == "sample"]

    def system_metrics(self) -> list[MetricSpec]:
        return [m for m in self.specs if not m.url and is_builtin(m.name) and get_builtin(m.name).kind == "system"]

    def accumulators(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric in self.sample_metrics():
            if metric.url:
                out[metric.name] = FunctionMetric(load_plugin(metric.url, metric.name))
            else:
                make = get_builtin(metric.name).make
                assert make is not None  # a "sample" built-in always has one (BuiltinMetric.__post_init__)
                out[metric.name] = make(self.num_classes, self.ignore_index)
        return out


@dataclass
class Evaluation:
    metrics: dict[str, float]
    confusion: ConfusionMatrix
    count: int
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    """wall time of the whole evaluation: prediction, reading labels, metrics"""
    predict_seconds: float = 0.0
    """wall time inside the model's predict calls only"""
    latencies_s: list[float] = field(default_factory=list)
    """per sample: its batch's predict time divided by the batch's samples (batches of `BATCH`), so a model that
    batches is credited for it; not the latency of a lone sample"""

    def inference(self) -> dict[str, float | None]:
        """Latency per sample (p50/p95, ms) and throughput (samples/s) of the predict calls."""
        if not self.latencies_s or self.predict_seconds <= 0:
            return {"latency_p50_ms": None, "latency_p95_ms": None, "throughput_sps": None}
        p50, p95 = np.percentile(self.latencies_s, [50, 95])
        return {
            "latency_p50_ms": round(float(p50) * 1000, 3),
            "latency_p95_ms": round(float(p95) * 1000, 3),
            "throughput_sps": round(len(self.latencies_s) / self.predict_seconds, 3),
        }

    def per_class_iou(self, class_names: Sequence[str]) -> dict[str, float | None]:
        values = iou_per_class(self.confusion)
        return {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, values)}


def evaluate(predict: Predict, samples: Sequence[Sample], suite: MetricSuite, keep: Keep | None = None) -> Evaluation:
    """Predict `samples` in small batches and feed every metric accumulator (and ``keep``, when given)."""
    began = time.perf_counter()
    accumulators = suite.accumulators()
    confusion = ConfusionMatrix(suite.num_classes, suite.ignore_index)
    latencies: list[float] = []
    for start in range(0, len(samples), BATCH):
        batch = list(samples[start : start + BATCH])
        called = time.perf_counter()
        predictions = predict(batch)
        latencies.extend([(time.perf_counter() - called) / max(1, len(batch))] * len(batch))
        if len(predictions) != len(batch):
            raise ValueError(f"model returned {len(predictions)} predictions for {len(batch)} samples")
        for position, (sample, prediction) in enumerate(zip(batch, predictions), start=start):
            truth = read_label(sample.label)
            prediction = np.asarray(prediction)
            if prediction.shape != truth.shape:
                raise ValueError(
                    f"prediction of shape {prediction.shape} for {sample.rgb.name} does not match its label {truth.shape}"
                )
            confusion.update(truth, prediction)
            for accumulator in accumulators.values():
                accumulator.update(truth, prediction)
            if keep is not None:
                keep(position, sample, prediction)
    metrics = {name: float(acc.result()) for name, acc in accumulators.items()}
    return Evaluation(
        metrics,
        confusion,
        len(samples),
        seconds=time.perf_counter() - began,
        predict_seconds=sum(latencies),
        latencies_s=latencies,
    )
