"""MajorityClassSegmenter: predicts the most frequent training class for every pixel.

The floor any learned segmentation model must clear; shipped so that the leaderboard shows it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from controller import fsio
from controller.datasets.images import png_size, read_label
from controller.datasets.index import Sample
from controller.plugins.context import Context
from controller.plugins.registry import register


@register("MajorityClassSegmenter", kind="basemodel")
class MajorityClassSegmenter:
    def __init__(self) -> None:
        self.counts: np.ndarray | None = None

    def train(
        self, train_data: Sequence[Sample], valid_data: Sequence[Sample] | None = None, *, context: Context, **_: object
    ) -> None:
        counts = np.zeros(context.num_classes, np.int64) if self.counts is None else self.counts
        for sample in train_data:
            label = read_label(sample.label)
            label = label[label < context.num_classes]
            counts += np.bincount(label, minlength=context.num_classes)[: context.num_classes]
        self.counts = counts

    def num_parameters(self) -> int:
        """One count per class: all this model learns."""
        return 0 if self.counts is None else len(self.counts)

    @property
    def majority(self) -> int:
        return 0 if self.counts is None else int(self.counts.argmax())

    def predict(self, data: Sequence[Sample], *, context: Context, **_: object) -> list[np.ndarray]:
        out = []
        for sample in data:
            width, height = png_size(sample.rgb)
            out.append(np.full((height, width), self.majority, np.uint8))
        return out

    def save(self, model_path: str | Path) -> Path:
        path = Path(model_path).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = [] if self.counts is None else self.counts.tolist()
        return fsio.write_json(path, {"counts": counts}, indent=None)

    def load(self, model_url: str | Path) -> None:
        path = Path(model_url)
        if path.suffix != ".json":
            path = path.with_suffix(".json")
        counts = json.loads(path.read_text())["counts"]
        self.counts = np.array(counts, np.int64) if counts else None
