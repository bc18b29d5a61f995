"""What the numbers mean: for the best and the worst finished case of the leaderboard, the test samples the case
kept (controller/paradigms/qualitative.py) drawn as image | ground truth | prediction, in Cityscapes colours.

A case whose predictions are not on this machine (its case Pod ran on a multi-host lab's node, or it predates
this) is named with the reason instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from controller.paradigms.qualitative import FOLDER, MANIFEST
from controller.report import plots

MAX_WIDTH = 512
"""pixels of the widest picture drawn (full-size Cityscapes frames would make a report of megabytes)"""


def colourise(classes: np.ndarray) -> np.ndarray:
    """Class ids (train ids) as Cityscapes colours; ignored and unknown ids black."""
    from controller.datasets.cityscapes import TRAIN_COLORS

    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(TRAIN_COLORS)] = np.array(TRAIN_COLORS, dtype=np.uint8)
    return lut[classes.astype(np.uint8)]


def sample_triples(case_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(caption, image, ground truth colours, prediction colours)`` per kept sample; ValueError says why none."""
    from controller.datasets.images import read_label, read_rgb

    manifest = case_dir / FOLDER / MANIFEST
    if not manifest.is_file():
        raise ValueError(f"no predictions kept in {manifest.parent}")
    triples = []
    for entry in json.loads(manifest.read_text())["samples"]:
        try:
            rgb, label = read_rgb(entry["rgb"]), read_label(entry["label"])
            prediction = read_label(case_dir / FOLDER / entry["prediction"])
        except (OSError, ValueError) as exc:
            raise ValueError(f"a kept sample cannot be read: {exc}") from None
        caption = str(entry.get("task") or Path(entry["rgb"]).stem[:20])
        triples.append((caption, _shrink(rgb), _shrink(colourise(label)), _shrink(colourise(prediction))))
    if not triples:
        raise ValueError(f"no samples in {manifest}")
    return triples


def _shrink(picture: np.ndarray) -> np.ndarray:
    step = max(1, -(-picture.shape[1] // MAX_WIDTH))
    return picture[::step, ::step]


def samples_figure(case_dir: Path, title: str, path: Path) -> Path:
    """The kept samples of one case as a grid of image | ground truth | prediction rows."""
    return plots.picture_rows(sample_triples(case_dir), ("image", "ground truth", "prediction"), title, path)
