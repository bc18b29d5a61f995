"""Lifelong learning over a sequence of tasks, with a knowledge base of per-task models.

Flow (one round per task, in order of first appearance in the train index):
  0. baseline: an untrained model is evaluated on every task's test split -> b (for FWT);
  r. the model continues training on task r's training split (its first `train_ratio` part; the
     rest is the round's validation split), the result is stored in the knowledge base, and every
     task's test split is evaluated through task allocation -> row r of the accuracy matrix R.
Finally the whole test set is inferred through task allocation and unseen-sample recognition; the
sample metrics (e.g. mIoU) use those predictions and the system metrics (ACC, BWT, FWT, ...) use R.
A learned task allocator (``learn``) is taught each round's training samples after the round, and a
confidence-based recogniser gets the allocated models' confidences (see controller/paradigms/tasks.py).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from controller.datasets.index import Sample
from controller.metrics.lifelong import LifelongInfo
from controller.metrics.registry import get_builtin
from controller.paradigms.base import Paradigm, ParadigmOutput, scalar_metrics
from controller.paradigms.evaluation import Evaluation, evaluate
from controller.paradigms.knowledge_base import KnowledgeBase
from controller.paradigms.tasks import learns, uses_confidence
from controller.plan import CaseSpec
from controller.plugins.context import Context
from controller.plugins.loader import load_plugin
from controller.results import AccuracyMatrix

log = logging.getLogger(__name__)

# Knowledge-base snapshots kept loaded between rounds (least recently used dropped first): a task's model is
# evaluated in every later round, and reloading it each time cost a demo RFNet case ~3 s of its ~14 s of
# evaluation. Bounded because each kept model holds its weights (~95 MB for RFNet).
LOADED_SNAPSHOTS = 8


class LifelongLearning(Paradigm):
    def __init__(self, spec: CaseSpec, context: Context) -> None:
        super().__init__(spec, context)
        self.task_definition = self.instantiate(self._module("task_definition", default="TaskDefinitionByAttribute"))
        self.task_allocation = self.instantiate(self._module("task_allocation", default="TaskAllocationByAttribute"))
        self.unseen = self.instantiate(self._module("unseen_sample_recognition", default="NoUnseenSamples"))
        basemodel_class = load_plugin(self._basemodel.url, self._basemodel.name)
        if uses_confidence(self.unseen) and not hasattr(basemodel_class, "predict_confidence"):
            raise ValueError(
                f"unseen_sample_recognition {type(self.unseen).__name__} needs model confidences, but basemodel "
                f"{self._basemodel.name} has no predict_confidence(data, *, context) method"
            )
        self.kb = KnowledgeBase(context.workspace / "kb")
        self._latest: Any = None
        self.cloud_samples = self.cloud_bytes = 0
        """edge -> cloud traffic of the final inference: samples the unseen-sample recognition sent, their bytes"""
        self._loaded: OrderedDict[str, Any] = OrderedDict()  # snapshot path -> model loaded from it

    def run(self) -> ParadigmOutput:
        train, test = self.load_data()
        tasks, train_by_task = self._group(train, "train")
        _, test_by_task = self._group(test, "test")
        missing = [t for t in tasks if t not in test_by_task]
        if missing:
            raise ValueError(
                f"tasks without test samples: {', '.join(missing)} (test index {self.spec.testenv.test_index})"
            )
        extra_test = [t for t in test_by_task if t not in tasks]
        if extra_test:
            log.info("test tasks never trained on (evaluated as unseen): %s", ", ".join(extra_test))
        rounds_cfg = self.spec.testenv.incremental_rounds
        if rounds_cfg is not None and rounds_cfg != len(tasks):
            log.warning(
                "incremental_rounds=%d but the task definition gives %d tasks (%s): one round per task is run",
                rounds_cfg,
                len(tasks),
                ", ".join(tasks),
            )
        metric = self.matrix_metric
        log.info("lifelong learning: %d tasks in order %s; matrix metric %s", len(tasks), ", ".join(tasks), metric)

        baseline_model = self.new_model()
        base_ctx = self.context.evolve(round=0)
        baseline = [self.evaluate(baseline_model, test_by_task[t], base_ctx).metrics[metric] for t in tasks]
        log.info("baseline (untrained) %s: %s", metric, _fmt(baseline))

        model = self.new_model()
        if self.spec.initial_model_url:
            model.load(self.spec.initial_model_url)
        matrix: list[list[float]] = []
        rounds: list[dict[str, Any]] = []
        ratio = float(self.spec.data_setting.get("train_ratio", 1.0))
        for number, task in enumerate(tasks, start=1):
            ctx = self.context.evolve(round=number, task=task)
            fit, held_out = _split(train_by_task[task], ratio)
            started = time.perf_counter()
            model.train(fit, held_out or None, context=ctx)
            seconds = time.perf_counter() - started
            self.kb.add(task, number, len(fit), model.save)
            if learns(self.task_allocation):
                self.task_allocation.learn(task, fit, context=ctx)
            self._latest = model
            record: dict[str, Any] = {
                "round": number,
                "task": task,
                "train_samples": len(fit),
                "validation_samples": len(held_out),
                "train_seconds": round(seconds, 3),
            }
            evaluated = self.evaluate_seconds
            if held_out:
                record[f"validation_{metric}"] = self.evaluate(model, held_out, ctx).metrics[metric]
            row = [self._evaluate_routed(test_by_task[t], ctx).metrics[metric] for t in tasks]
            record["evaluate_seconds"] = round(self.evaluate_seconds - evaluated, 3)
            matrix.append(row)
            record["row"] = row
            rounds.append(record)
            log.info("round %d (%s): %s per task %s", number, task, metric, _fmt(row))

        final_ctx = self.context.evolve(round=len(tasks))
        final, transferred = self._final_inference(test, final_ctx)
        info = LifelongInfo(R=matrix, baseline=baseline, tasks=list(tasks), transferred=transferred, inferred=len(test))
        metrics = scalar_metrics(final.metrics)
        for spec in self.suite.system_metrics():
            compute = get_builtin(spec.name).compute
            assert compute is not None  # a "system" built-in always has one (BuiltinMetric.__post_init__)
            value = compute(info)
            if isinstance(value, (list, tuple, np.ndarray)):
                continue  # matrices live in result.matrix, never in a scalar column
            metrics[spec.name] = value
        per_task: dict[str, dict[str, float | None]] = {t: {metric: matrix[-1][j]} for j, t in enumerate(tasks)}
        return ParadigmOutput(
            metrics=metrics,
            matrix=AccuracyMatrix(metric=metric, tasks=list(tasks), values=matrix, baseline=baseline),
            per_task=per_task,
            per_class=final.per_class_iou(self.class_names),
            rounds=rounds,
            efficiency=self.efficiency(rounds, final, model)
            | {"cloud_samples": self.cloud_samples, "cloud_bytes": self.cloud_bytes},
        )

    # ------------------------------------------------------------ helpers

    def _group(self, samples: Sequence[Sample], split: str) -> tuple[list[str], dict[str, list[Sample]]]:
        names = self.task_definition.define(samples)
        if len(names) != len(samples):
            raise ValueError(f"task definition returned {len(names)} tasks for {len(samples)} {split} samples")
        order: list[str] = []
        groups: dict[str, list[Sample]] = {}
        for sample, name in zip(samples, names):
            if name not in groups:
                order.append(name)
                groups[name] = []
            groups[name].append(sample)
        return order, groups

    def _model_for(self, task: str | None) -> Any:
        if task is None or task not in self.kb.tasks:
            return self._latest
        # a snapshot never changes (a task trained again gets a new one), so its path names the loaded model
        snapshot = self.kb.entry(task).model
        if snapshot in self._loaded:
            self._loaded.move_to_end(snapshot)
            return self._loaded[snapshot]
        model = self.new_model()
        model.load(snapshot)
        self._loaded[snapshot] = model
        if len(self._loaded) > LOADED_SNAPSHOTS:
            self._loaded.popitem(last=False)
        return model

    def _predict_routed(self, batch: list[Sample], ctx: Context, counter: list[int] | None = None) -> list[np.ndarray]:
        allocations = self.task_allocation.allocate(batch, self.kb.tasks)
        if counter is None:
            return self._predict_allocated(batch, allocations, ctx)[0]
        # unseen samples go to the cloud, whose model is the latest one (allocation None)
        if not uses_confidence(self.unseen):
            unseen = self.unseen.recognize(batch, allocations, self.kb.tasks)
            _count_upload(counter, batch, unseen)
            allocations = [None if flag else a for a, flag in zip(allocations, unseen)]
            return self._predict_allocated(batch, allocations, ctx)[0]
        predictions, confidences = self._predict_allocated(batch, allocations, ctx, confidence=True)
        unseen = self.unseen.recognize(batch, allocations, self.kb.tasks, confidences=confidences)
        _count_upload(counter, batch, unseen)
        latest = self.kb.tasks[-1] if self.kb.tasks else None
        cloud = [
            i for i, flag in enumerate(unseen) if flag and allocations[i] in self.kb.tasks and allocations[i] != latest
        ]
        if cloud:
            for i, output in zip(cloud, self._latest.predict([batch[i] for i in cloud], context=ctx)):
                predictions[i] = output
        return predictions

    def _predict_allocated(
        self, batch: list[Sample], allocations: Sequence[str | None], ctx: Context, confidence: bool = False
    ) -> tuple[list[np.ndarray], list[float]]:
        """Each sample predicted by its allocated model; with `confidence`, also each sample's score."""
        predictions: list[np.ndarray | None] = [None] * len(batch)
        scores: list[float] = [float("nan")] * len(batch)
        for task in dict.fromkeys(allocations):
            positions = [i for i, a in enumerate(allocations) if a == task]
            model, chosen = self._model_for(task), [batch[i] for i in positions]
            if confidence:
                outputs, confidences = model.predict_confidence(chosen, context=ctx)
            else:
                outputs, confidences = model.predict(chosen, context=ctx), [float("nan")] * len(chosen)
            for i, output, score in zip(positions, outputs, confidences):
                predictions[i], scores[i] = output, float(score)
        # the plugins' predict methods return Any; a slot stays None only when one returned fewer outputs than
        # samples, which evaluate() then reports as a prediction whose shape does not match its label
        return cast("list[np.ndarray]", predictions), scores

    def _evaluate_routed(self, samples: Sequence[Sample], ctx: Context) -> Evaluation:
        return self.timed(evaluate(lambda batch: self._predict_routed(batch, ctx), samples, self.suite))

    def _final_inference(self, test: Sequence[Sample], ctx: Context) -> tuple[Evaluation, int]:
        counter = [0, 0]  # samples and bytes sent to the cloud
        evaluation = self.final_evaluation(lambda batch: self._predict_routed(batch, ctx, counter), test, ctx)
        log.info("final inference: %d samples, %d recognised as unseen and sent to the cloud", len(test), counter[0])
        self.cloud_samples, self.cloud_bytes = counter
        return evaluation, counter[0]


def _count_upload(counter: list[int], batch: Sequence[Sample], unseen: Sequence[bool]) -> None:
    """Add the samples recognised as unseen to what the edge sends the cloud: their count, and the bytes of their
    input files (image, depth: what an edge node would upload; labels stay behind)."""
    for sample, flag in zip(batch, unseen):
        if flag:
            counter[0] += 1
            counter[1] += sum(path.stat().st_size for path in sample.inputs if path.is_file())


def _split(samples: list[Sample], ratio: float) -> tuple[list[Sample], list[Sample]]:
    """Order-preserving split (as Ianvs does): the first `ratio` part trains, the rest validates."""
    cut = max(1, int(round(len(samples) * ratio)))
    return samples[:cut], samples[cut:]


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join("nan" if v is None or np.isnan(v) else f"{v:.4f}" for v in values) + "]"
