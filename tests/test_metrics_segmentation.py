"""Specification of controller.metrics.segmentation: confusion matrix and the scores derived from it."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from controller.metrics.segmentation import (
    ConfusionMatrix,
    frequency_weighted_iou,
    iou_per_class,
    mean_class_accuracy,
    mean_iou,
    pixel_accuracy,
)

NAN = float("nan")

# Worked example A (C = 3, ignore_index = 255), pixel by pixel:
#   (gt 0, pred 0)   -> M[0,0]
#   (gt 0, pred 1)   -> M[0,1]
#   (gt 1, pred 1)   -> M[1,1]
#   (gt 1, pred 255) -> "other" of class 1 (false negative of 1, false positive of nothing)
#   (gt 2, pred 2)   -> M[2,2]
#   (gt 255, pred 0) -> dropped
GT_A = np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8)
PRED_A = np.array([[0, 1, 1], [255, 2, 0]], dtype=np.uint8)
MATRIX_A = [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
OTHER_A = [0, 1, 0]
# gt counts (incl. other) = [2, 2, 1], prediction counts = [1, 2, 1], TP = [1, 1, 1], total = 5
# IoU = TP / (gt + pred - TP): [1/(2+1-1), 1/(2+2-1), 1/(1+1-1)] = [1/2, 1/3, 1]
IOU_A = [1 / 2, 1 / 3, 1.0]
MIOU_A = 11 / 18  # (1/2 + 1/3 + 1) / 3 = (11/6) / 3
PA_A = 3 / 5  # 3 diagonal pixels of 5 valid ones
CPA_A = 2 / 3  # (1/2 + 1/2 + 1/1) / 3
FWIOU_A = 8 / 15  # 2/5 * 1/2 + 2/5 * 1/3 + 1/5 * 1 = 1/5 + 2/15 + 1/5


def cm_of(gt, pred, num_classes: int, ignore_index: int = 255) -> ConfusionMatrix:
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(np.asarray(gt), np.asarray(pred))
    return cm


def test_update_counts_rows_as_ground_truth_and_columns_as_prediction():
    cm = cm_of(GT_A, PRED_A, 3)
    assert cm.matrix.tolist() == MATRIX_A
    assert cm.matrix.dtype == np.int64


def test_prediction_outside_class_range_goes_to_other_column():
    cm = cm_of(GT_A, PRED_A, 3)
    assert cm.other.tolist() == OTHER_A
    assert cm.full_matrix.tolist() == [row + [o] for row, o in zip(MATRIX_A, OTHER_A)]


def test_total_counts_only_valid_ground_truth_pixels():
    assert cm_of(GT_A, PRED_A, 3).total == 5


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (mean_iou, MIOU_A),
        (pixel_accuracy, PA_A),
        (mean_class_accuracy, CPA_A),
        (frequency_weighted_iou, FWIOU_A),
    ],
    ids=["mIoU", "pixel_accuracy", "mean_class_accuracy", "fwIoU"],
)
def test_scores_of_worked_example(fn, expected):
    assert fn(cm_of(GT_A, PRED_A, 3)) == pytest.approx(expected)


def test_iou_per_class_of_worked_example():
    assert iou_per_class(cm_of(GT_A, PRED_A, 3)) == pytest.approx(IOU_A)


# Worked example B (C = 4): gt [0, 0, 1, 1], pred [0, 2, 1, 1]
#   M[0,0] = 1, M[0,2] = 1, M[1,1] = 2; class 2 predicted but never in gt; class 3 nowhere.
#   IoU0 = 1/(2+1-1) = 1/2, IoU1 = 2/(2+2-2) = 1, IoU2 = 0/(0+1-0) = 0, IoU3 = 0/0 = NaN
GT_B, PRED_B = [0, 0, 1, 1], [0, 2, 1, 1]


def test_class_absent_from_both_is_nan_and_predicted_only_class_is_zero():
    iou = iou_per_class(cm_of(GT_B, PRED_B, 4))
    assert iou[:3] == pytest.approx([0.5, 1.0, 0.0])
    assert np.isnan(iou[3])


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (mean_iou, 0.5),  # nanmean(1/2, 1, 0) — the predicted-only class counts as 0
        (pixel_accuracy, 0.75),  # 3 correct of 4
        (mean_class_accuracy, 0.75),  # classes in gt only: (1/2 + 2/2) / 2
        (frequency_weighted_iou, 0.75),  # f = [1/2, 1/2, 0, 0]: 1/2 * 1/2 + 1/2 * 1
    ],
    ids=["mIoU", "pixel_accuracy", "mean_class_accuracy", "fwIoU"],
)
def test_scores_with_absent_classes(fn, expected):
    assert fn(cm_of(GT_B, PRED_B, 4)) == pytest.approx(expected)


def test_abstaining_prediction_lowers_iou_unlike_dropping_it():
    # gt [0, 0, 1], pred [0, 255, 1]: the 255 is a FN of class 0.
    # IoU0 = 1/(2+1-1) = 1/2, IoU1 = 1 -> mIoU 3/4 (RFNet's Evaluator would drop the pixel: 1.0)
    assert mean_iou(cm_of([0, 0, 1], [0, 255, 1], 2)) == pytest.approx(0.75)


@pytest.mark.parametrize("bad_pred", [2, 7, 255, -1], ids=lambda v: f"pred={v}")
def test_every_out_of_range_prediction_is_a_false_negative(bad_pred):
    cm = cm_of(np.array([1], dtype=np.int16), np.array([bad_pred], dtype=np.int16), 2)
    assert cm.other.tolist() == [0, 1]
    assert cm.matrix.sum() == 0


@pytest.mark.parametrize("bad_gt", [2, 9, 255, -1], ids=lambda v: f"gt={v}")
def test_ground_truth_outside_class_range_is_dropped(bad_gt):
    cm = cm_of(np.array([bad_gt, 0], dtype=np.int16), np.array([0, 0], dtype=np.int16), 2)
    assert cm.full_matrix.tolist() == [[1, 0, 0], [0, 0, 0]]


def test_ignore_index_inside_class_range_is_treated_like_an_ignored_id():
    # C = 3, ignore_index = 0: gt [0, 1, 1, 2], pred [1, 0, 1, 2]
    #   pixel 0 (gt 0) dropped; pixel 1 (gt 1, pred 0 = ignored id) -> other of 1
    #   IoU0 = NaN (no counts), IoU1 = 1/(2+1-1) = 1/2, IoU2 = 1 -> mIoU 3/4
    cm = cm_of([0, 1, 1, 2], [1, 0, 1, 2], 3, ignore_index=0)
    assert cm.full_matrix.tolist() == [[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert mean_iou(cm) == pytest.approx(0.75)


def test_uint8_maps_with_many_classes_do_not_overflow():
    # 18 * (19 + 1) + 18 = 378 > 255: index arithmetic must not happen in uint8.
    cm = cm_of(np.array([18, 17], dtype=np.uint8), np.array([18, 3], dtype=np.uint8), 19)
    assert cm.matrix[18, 18] == 1 and cm.matrix[17, 3] == 1 and cm.total == 2


def test_accumulates_over_images_not_mean_of_images():
    # image 1: gt [0,0,0,0] all correct; image 2: gt [1] predicted 0.
    # Dataset level: M = [[4,0],[1,0]] -> IoU0 = 4/(4+5-4) = 4/5, IoU1 = 0/(1+0-0) = 0 -> mIoU 2/5.
    # (Per-image mean would be (1 + 0) / 2 = 1/2.)
    cm = ConfusionMatrix(2)
    cm.update(np.zeros((2, 2), dtype=np.uint8), np.zeros((2, 2), dtype=np.uint8))
    cm.update(np.array([1]), np.array([0]))
    assert mean_iou(cm) == pytest.approx(0.4)


def test_merge_adds_counts():
    left, right = cm_of(GT_A[:1], PRED_A[:1], 3), cm_of(GT_A[1:], PRED_A[1:], 3)
    left.merge(right)
    assert left.full_matrix.tolist() == cm_of(GT_A, PRED_A, 3).full_matrix.tolist()


@pytest.mark.parametrize(
    "other", [ConfusionMatrix(4), ConfusionMatrix(3, ignore_index=0)], ids=["num_classes", "ignore_index"]
)
def test_merge_refuses_a_different_label_space(other):
    with pytest.raises(ValueError, match="different label spaces"):
        ConfusionMatrix(3).merge(other)


def test_merge_refuses_non_confusion_matrix():
    with pytest.raises(TypeError, match="ConfusionMatrix"):
        ConfusionMatrix(3).merge(np.zeros((3, 3)))  # type: ignore[arg-type]


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        ConfusionMatrix(3).update(np.zeros((2, 3), dtype=int), np.zeros((3, 2), dtype=int))


@pytest.mark.parametrize("which", ["gt", "pred"])
def test_float_label_maps_are_refused(which):
    gt, pred = np.zeros(4, dtype=int), np.zeros(4, dtype=int)
    if which == "gt":
        gt = gt.astype(np.float32)
    else:
        pred = pred.astype(np.float32)
    with pytest.raises(TypeError, match="integer class ids"):
        ConfusionMatrix(3).update(gt, pred)


@pytest.mark.parametrize("num_classes", [0, -1, True, 2.5, "3"])
def test_invalid_num_classes_is_refused(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(num_classes)  # type: ignore[arg-type]


def test_matrix_property_is_a_copy():
    cm = cm_of(GT_A, PRED_A, 3)
    cm.matrix[0, 0] = 100
    assert cm.matrix[0, 0] == 1


def test_reset_forgets_counts():
    cm = cm_of(GT_A, PRED_A, 3)
    cm.reset()
    assert cm.total == 0


ALL_SCORES = [mean_iou, pixel_accuracy, mean_class_accuracy, frequency_weighted_iou]


@pytest.mark.parametrize("fn", ALL_SCORES, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "cm",
    [ConfusionMatrix(3), cm_of([255, 7], [0, 1], 3)],
    ids=["nothing accumulated", "every pixel ignored"],
)
def test_empty_matrix_scores_nan_without_warning(fn, cm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(fn(cm))


@pytest.mark.parametrize("fn", ALL_SCORES, ids=lambda f: f.__name__)
def test_scores_accept_raw_square_and_extended_arrays(fn):
    cm = cm_of(GT_A, PRED_A, 3)
    assert fn(cm.full_matrix) == pytest.approx(fn(cm))
    # A square matrix has no "other" pixels, so it equals a CM whose abstention never happened.
    no_other = cm_of([0, 0, 1, 2], [0, 1, 1, 2], 3)
    assert fn(no_other.matrix) == pytest.approx(fn(no_other))


@pytest.mark.parametrize("shape", [(3,), (3, 5), (2, 2, 2), (0, 0)])
def test_raw_array_of_wrong_shape_is_refused(shape):
    with pytest.raises(ValueError, match="C x C"):
        mean_iou(np.zeros(shape))


def brute_force_iou(gts, preds, num_classes: int, ignore_index: int) -> np.ndarray:
    """IoU by set operations on pixel positions, one class at a time (independent of bincount)."""
    gt = np.concatenate([g.ravel() for g in gts]).astype(np.int64)
    pred = np.concatenate([p.ravel() for p in preds]).astype(np.int64)
    valid = (gt >= 0) & (gt < num_classes) & (gt != ignore_index)
    out = []
    for c in range(num_classes):
        gt_set = set(np.flatnonzero(valid & (gt == c)))
        pred_set = set(np.flatnonzero(valid & (pred == c)))
        union = gt_set | pred_set
        out.append(len(gt_set & pred_set) / len(union) if union else np.nan)
    return np.array(out)


@pytest.mark.parametrize("seed", range(40))
def test_mean_iou_matches_brute_force_on_random_maps(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(1, 9))
    # class ids, the ignore label and some out-of-range ids, in both gt and prediction
    values = np.array(list(range(num_classes)) + [255, num_classes, num_classes + 3])
    gts, preds = [], []
    cm = ConfusionMatrix(num_classes, 255)
    for _ in range(int(rng.integers(1, 4))):
        shape = tuple(int(s) for s in rng.integers(1, 12, size=2))
        gt = rng.choice(values, size=shape).astype(np.uint8)
        pred = rng.choice(values, size=shape).astype(np.uint8)
        cm.update(gt, pred)
        gts.append(gt)
        preds.append(pred)
    expected = brute_force_iou(gts, preds, num_classes, 255)
    np.testing.assert_allclose(iou_per_class(cm), expected, equal_nan=True)
    if np.isnan(expected).all():
        assert np.isnan(mean_iou(cm))
    else:
        assert mean_iou(cm) == pytest.approx(float(np.nanmean(expected)))


def test_full_resolution_cityscapes_map_is_fast():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 20, size=(1024, 2048), dtype=np.uint8)
    gt[gt == 19] = 255
    pred = rng.integers(0, 19, size=(1024, 2048), dtype=np.uint8)
    cm = ConfusionMatrix(19)
    start = time.perf_counter()
    cm.update(gt, pred)
    elapsed = time.perf_counter() - start
    assert cm.total == int((gt != 255).sum())
    assert elapsed < 1.0, f"update of a 2048x1024 map took {elapsed:.2f}s"
