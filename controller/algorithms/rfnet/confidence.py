"""UnseenTaskByConfidence: flag a sample as unseen when the edge model is not confident on it.

Why confidence: a sample from a domain no task model was trained on tends to get flat class
posteriors. The basemodel reports, per sample, the mean over pixels of the largest softmax
probability (``predict_confidence``, e.g. RFNetSegmenter's); a sample whose confidence is below
``threshold`` is sent to the cloud and counted in ``samples_transfer_ratio``::

    unseen_i = confidence_i < threshold   or   (unallocated_is_unseen and allocation_i is None)

Protocol with the lifelong paradigm: ``uses_confidence = True`` tells it to predict with the
allocated models' ``predict_confidence`` first and pass the scores as ``confidences=``; the samples
flagged here are then re-predicted by the cloud (latest) model. No numpy needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.datasets.index import Sample
from controller.plugins.registry import register


@register("UnseenTaskByConfidence", kind="unseen_sample_recognition")
class UnseenTaskByConfidence:
    uses_confidence = True

    def __init__(self, threshold: float = 0.5, unallocated_is_unseen: bool = True) -> None:
        if isinstance(threshold, bool) or not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.unallocated_is_unseen = bool(unallocated_is_unseen)

    def recognize(
        self,
        samples: Sequence[Sample],
        allocations: Sequence[str | None],
        known_tasks: Sequence[str],
        *,
        confidences: Sequence[float] | None = None,
    ) -> list[bool]:
        if confidences is None:
            raise ValueError(
                "UnseenTaskByConfidence needs per-sample confidences: the basemodel must implement "
                "predict_confidence(data, *, context) -> (class maps, confidences)"
            )
        if not len(samples) == len(allocations) == len(confidences):
            raise ValueError(
                f"got {len(samples)} samples, {len(allocations)} allocations and {len(confidences)} confidences"
            )
        known = set(known_tasks)
        flags = []
        for allocation, score in zip(allocations, confidences):
            unallocated = allocation is None or allocation not in known
            flags.append(score < self.threshold or (self.unallocated_is_unseen and unallocated))
        return flags
