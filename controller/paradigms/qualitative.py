"""A few test samples of the final evaluation kept with the model's prediction, so the report can show what the
numbers mean (controller/report/qualitative.py draws them next to their image and ground truth).

Which samples: ``count`` spread evenly over the test split in its order (an index sorted by task gives one per task
for three tasks), the same for every case of a job, so cases are compared on the same images. Each prediction is
a single-channel PNG of class ids in ``<case folder>/predictions/``; ``samples.json`` there names the sample files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from controller import fsio
from controller.datasets.index import Sample

log = logging.getLogger(__name__)

FOLDER = "predictions"
MANIFEST = "samples.json"
DEFAULT_COUNT = 3


def spread(total: int, count: int = DEFAULT_COUNT) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, first and last included (fewer when total is less)."""
    if total <= 0 or count <= 0:
        return []
    if total <= count:
        return list(range(total))
    if count == 1:
        return [0]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


class PredictionKeeper:
    """Called with every (position, sample, prediction) of an evaluation; keeps the chosen ones."""

    def __init__(self, case_folder: Path, total: int, count: int = DEFAULT_COUNT) -> None:
        self.folder = case_folder / FOLDER
        self.wanted = set(spread(total, count))
        self.kept: list[dict[str, Any]] = []

    def __call__(self, position: int, sample: Sample, prediction: np.ndarray) -> None:
        if position not in self.wanted:
            return
        from PIL import Image

        if prediction.ndim != 2 or prediction.min(initial=0) < 0 or prediction.max(initial=0) > 255:
            log.warning("prediction of %s is not a map of class ids 0..255; not kept", sample.rgb.name)
            return
        name = f"{position:06d}-{sample.rgb.stem}.png"
        self.folder.mkdir(parents=True, exist_ok=True)
        with fsio.atomic_file(self.folder / name) as handle:
            Image.fromarray(prediction.astype(np.uint8), mode="L").save(handle, format="PNG")
        self.kept.append(
            {
                "position": position,
                "rgb": str(sample.rgb),
                "label": str(sample.label),
                "prediction": name,
                "task": sample.city,
            }
        )

    def write(self) -> None:
        if self.kept:
            fsio.write_json(self.folder / MANIFEST, {"samples": self.kept})
