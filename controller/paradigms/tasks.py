"""Built-in task definition, task allocation and unseen-sample recognition modules.

A *task* is a name derived from a sample (its city, its domain folder, an index column...). Task
definition names the task of each training/test sample; task allocation decides, at inference,
which task's model in the knowledge base serves a sample (None = no matching model: the latest
model serves it); unseen-sample recognition flags samples the edge should send to the cloud.

Two optional extensions of these protocols (the paradigm checks for them, plain modules ignore them):

* a task-allocation module with ``learn(task, samples, *, context)`` is a *learned* allocator: the
  lifelong paradigm calls it after every round with that round's training samples
  (e.g. ``TaskAllocationByDomainClassifier``);
* an unseen-sample recogniser with ``uses_confidence = True`` receives
  ``recognize(samples, allocations, known_tasks, confidences=[...])``, one score per sample from the
  allocated model's ``predict_confidence(data, *, context) -> (class maps, confidences)``; the paradigm
  keeps those class maps (no second forward pass) and re-predicts only the flagged samples with the
  cloud (latest) model (e.g. ``UnseenTaskByConfidence``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.datasets.index import Sample
from controller.plugins.registry import register


class _ByAttribute:
    def __init__(self, attribute: str = "city") -> None:
        self.attribute = attribute

    def _task(self, sample: Sample) -> str:
        value = sample.attribute(self.attribute)
        if not value:
            raise ValueError(
                f"{sample.index_file}:{sample.line}: cannot derive task attribute {self.attribute!r} from {sample.rgb}"
            )
        return value


@register("TaskDefinitionByAttribute", kind="task_definition")
class TaskDefinitionByAttribute(_ByAttribute):
    """Task = a path attribute of the sample: ``city``, ``folder``, ``domain`` or ``column:<n>``."""

    def define(self, samples: Sequence[Sample]) -> list[str]:
        return [self._task(s) for s in samples]


class _ByOrigin:
    def __init__(self, origins: Sequence[str] = ("real", "sim")) -> None:
        if not origins:
            raise ValueError("origins must name at least one origin")
        self.origins = list(origins)

    def _origin(self, sample: Sample) -> str:
        # Ianvs semantics: the first origin found in the path, otherwise the last origin
        text = str(sample.rgb)
        return next((o for o in self.origins[:-1] if o in text), self.origins[-1])


@register("TaskDefinitionByOrigin", kind="task_definition")
class TaskDefinitionByOrigin(_ByOrigin):
    """Ianvs-compatible: task = the first of `origins` that occurs in the image path, else the last."""

    def define(self, samples: Sequence[Sample]) -> list[str]:
        return [self._origin(s) for s in samples]


@register("TaskAllocationByAttribute", kind="task_allocation")
class TaskAllocationByAttribute(_ByAttribute):
    """Route a sample to the model of the task its attribute names, if the knowledge base has it."""

    def allocate(self, samples: Sequence[Sample], known_tasks: Sequence[str]) -> list[str | None]:
        known = set(known_tasks)
        return [t if t in known else None for t in (self._task(s) for s in samples)]


@register("TaskAllocationByOrigin", kind="task_allocation")
class TaskAllocationByOrigin(_ByOrigin):
    def allocate(self, samples: Sequence[Sample], known_tasks: Sequence[str]) -> list[str | None]:
        known = set(known_tasks)
        return [o if o in known else None for o in (self._origin(s) for s in samples)]


@register("TaskAllocationLatest", kind="task_allocation")
class TaskAllocationLatest:
    """Naive fine-tuning: every sample is served by the most recently trained model."""

    def allocate(self, samples: Sequence[Sample], known_tasks: Sequence[str]) -> list[str | None]:
        return [None] * len(samples)


@register("UnseenTaskByAllocation", kind="unseen_sample_recognition")
class UnseenTaskByAllocation:
    """A sample is unseen when no task model in the knowledge base was allocated to it."""

    def recognize(
        self, samples: Sequence[Sample], allocations: Sequence[str | None], known_tasks: Sequence[str]
    ) -> list[bool]:
        known = set(known_tasks)
        return [a is None or a not in known for a in allocations]


@register("NoUnseenSamples", kind="unseen_sample_recognition")
class NoUnseenSamples:
    """Every sample is handled at the edge (nothing is transferred to the cloud)."""

    def recognize(
        self, samples: Sequence[Sample], allocations: Sequence[str | None], known_tasks: Sequence[str]
    ) -> list[bool]:
        return [False] * len(samples)


def uses_confidence(recognizer: Any) -> bool:
    """Whether an unseen-sample recogniser wants the models' per-sample confidences."""
    return bool(getattr(recognizer, "uses_confidence", False))


def learns(allocator: Any) -> bool:
    """Whether a task-allocation module learns from each round's training samples."""
    return callable(getattr(allocator, "learn", None))
