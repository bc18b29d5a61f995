"""Our mIoU equals the official cityscapesScripts pixel-level evaluation on the same predictions."""

from __future__ import annotations

import copy
from pathlib import Path

import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as official  # test extra
import numpy as np
import pytest

from controller.datasets.cityscapes import LABELS, TRAIN_LABELS, labelids_to_trainids
from controller.datasets.images import write_png
from controller.metrics.registry import get_builtin

LABEL_IDS = np.array([label.id for label in LABELS if label.id >= 0])  # 0..33, incl. ignored ids
TRAIN_TO_ID = np.full(256, 0, np.uint8)  # 255 (abstain) -> 0 unlabeled
for _label in TRAIN_LABELS:
    TRAIN_TO_ID[_label.train_id] = _label.id


def _random_pair(rng: np.random.Generator, height: int, width: int, abstain: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth labelIds (every id, so ~40% ignored pixels) and trainId predictions.

    Predictions copy the ground truth on about half the pixels (so IoUs are far from 0) and are
    uniform elsewhere; `abstain` of them are 255 (a model that refuses to answer).
    """
    gt = rng.choice(LABEL_IDS, size=(height, width)).astype(np.uint8)
    truth = labelids_to_trainids(gt)
    pred = rng.integers(0, 19, size=(height, width)).astype(np.uint8)
    copy_mask = (rng.random((height, width)) < 0.5) & (truth != 255)
    pred[copy_mask] = truth[copy_mask]
    pred[rng.random((height, width)) < abstain] = 255
    return gt, pred


@pytest.mark.parametrize(("seed", "abstain"), [(0, 0.0), (1, 0.0), (2, 0.1)])
def test_miou_matches_cityscapes_scripts(tmp_path: Path, seed: int, abstain: float) -> None:
    rng = np.random.default_rng(seed)
    ours = get_builtin("mIoU").make(19, 255)
    predictions, truths = [], []
    for i, (height, width) in enumerate([(64, 128), (37, 91), (50, 50)]):
        gt, pred = _random_pair(rng, height, width, abstain)
        ours.update(labelids_to_trainids(gt), pred)
        truths.append(str(write_png(tmp_path / f"img{i}_gtFine_labelIds.png", gt)))
        predictions.append(str(write_png(tmp_path / f"img{i}_pred.png", TRAIN_TO_ID[pred])))
    args = copy.deepcopy(official.args)
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    result = official.evaluateImgLists(predictions, truths, args)
    assert ours.result() == pytest.approx(result["averageScoreClasses"], abs=1e-6)


def test_a_class_absent_everywhere_is_left_out_by_both(tmp_path: Path) -> None:
    # only road (id 7) and sky (id 23) in ground truth and predictions: mIoU over 2 classes
    gt = np.array([[7, 7, 23, 23]], np.uint8)
    pred = np.array([[0, 10, 10, 10]], np.uint8)  # trainIds: road, sky, sky, sky
    ours = get_builtin("mIoU").make(19, 255)
    ours.update(labelids_to_trainids(gt), pred)
    # road: TP 1, FN 1 -> 1/2;  sky: TP 2, FP 1 -> 2/3;  mean 7/12
    assert ours.result() == pytest.approx(7 / 12)
    args = copy.deepcopy(official.args)
    args.evalInstLevelScore, args.JSONOutput, args.quiet = False, False, True
    result = official.evaluateImgLists(
        [str(write_png(tmp_path / "p.png", TRAIN_TO_ID[pred]))],
        [str(write_png(tmp_path / "g_gtFine_labelIds.png", gt))],
        args,
    )
    assert result["averageScoreClasses"] == pytest.approx(7 / 12)
