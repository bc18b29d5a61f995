"""Specification of controller.metrics.classification: accuracy and F1."""

from __future__ import annotations

import numpy as np
import pytest

from controller.metrics.classification import accuracy, f1_score


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        ([1, 2, 3, 4], [1, 2, 0, 4], 3 / 4),  # one miss of four
        (["a", "b"], ["a", "a"], 1 / 2),  # labels need not be numbers
        (np.array([0, 1, 1]), [0, 1, 1], 1.0),  # numpy vs Python scalars compare equal
        ([5], [6], 0.0),
    ],
)
def test_accuracy_of_scalar_labels(y_true, y_pred, expected):
    assert accuracy(y_true, y_pred) == pytest.approx(expected)


def test_accuracy_of_label_maps_is_pixel_accuracy_ignoring_255():
    # map 1: valid gt pixels 0, 1, 2 (255 ignored whatever is predicted there); correct: 0 and 2 -> 2 of 3
    # map 2: valid gt pixel 3, correct -> 1 of 1
    # dataset level: (2 + 1) / (3 + 1) = 3/4
    y_true = [np.array([[0, 1], [255, 2]]), np.array([3, 255])]
    y_pred = [np.array([[0, 0], [1, 2]]), np.array([3, 0])]
    assert accuracy(y_true, y_pred) == pytest.approx(0.75)


def test_accuracy_counts_a_predicted_255_as_wrong():
    # gt [1, 1], pred [1, 255]: 1 correct of 2 valid
    assert accuracy([np.array([1, 1])], [np.array([1, 255])]) == pytest.approx(0.5)


def test_accuracy_honours_a_custom_ignore_index():
    # gt [0, 1, 1] with ignore_index=0 -> valid pixels [1, 1]; pred [1, 1, 0] -> 1 correct of 2
    assert accuracy([np.array([0, 1, 1])], [np.array([1, 1, 0])], ignore_index=0) == pytest.approx(0.5)


def test_accuracy_of_fully_ignored_maps_is_nan():
    assert np.isnan(accuracy([np.full((2, 2), 255)], [np.zeros((2, 2), dtype=int)]))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([1, 2], [1], "2 samples but y_pred has 1"),
        ([], [], "empty"),
        ([1, np.array([1, 2])], [1, np.array([1, 2])], "mixes"),
        ([np.zeros((2, 2), dtype=int)], [np.zeros((2, 3), dtype=int)], r"sample 0.*\(2, 2\).*\(2, 3\)"),
    ],
    ids=["length mismatch", "empty", "scalars and maps", "map shape mismatch"],
)
def test_accuracy_rejects_bad_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        accuracy(y_true, y_pred)


# y_true [0, 0, 1, 1, 2], y_pred [0, 1, 1, 1, 0]
#   class 0: TP 1 (#0), FP 1 (#4), FN 1 (#1) -> 2/(2+1+1) = 1/2
#   class 1: TP 2 (#2,#3), FP 1 (#1), FN 0   -> 4/(4+1)   = 4/5
#   class 2: TP 0, FP 0, FN 1 (#4)           -> 0/(0+1)   = 0
#   macro = (1/2 + 4/5 + 0) / 3 = 13/30; micro = 2*3/(2*3 + 2 + 2) = 3/5 (= accuracy)
Y_TRUE_F1 = [0, 0, 1, 1, 2]
Y_PRED_F1 = [0, 1, 1, 1, 0]


@pytest.mark.parametrize(("average", "expected"), [("macro", 13 / 30), ("micro", 3 / 5)])
def test_f1_multiclass(average, expected):
    assert f1_score(Y_TRUE_F1, Y_PRED_F1, average=average) == pytest.approx(expected)


def test_f1_macro_is_the_default():
    assert f1_score(Y_TRUE_F1, Y_PRED_F1) == pytest.approx(13 / 30)


# y_true [1, 0, 1, 1, 0], y_pred [1, 1, 0, 1, 0]
#   pos 1: TP 2 (#0,#3), FP 1 (#1), FN 1 (#2) -> 4/6 = 2/3
#   pos 0: TP 1 (#4),    FP 1 (#2), FN 1 (#1) -> 2/4 = 1/2
@pytest.mark.parametrize(("pos_label", "expected"), [(1, 2 / 3), (0, 1 / 2)])
def test_f1_binary(pos_label, expected):
    got = f1_score([1, 0, 1, 1, 0], [1, 1, 0, 1, 0], average="binary", pos_label=pos_label)
    assert got == pytest.approx(expected)


def test_f1_binary_without_positive_label_is_zero():
    # TP = FP = FN = 0 -> 0/0, scored 0.0
    assert f1_score([0, 0], [0, 0], average="binary") == 0.0


def test_f1_treats_numpy_and_python_labels_alike():
    assert f1_score(np.array([0, 1]), [0, 1]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "average": "binary"}, "at most two labels"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "average": "weighted"}, "average must be one of"),
        ({"y_true": [0, 1], "y_pred": [0], "average": "macro"}, "2 samples but y_pred has 1"),
        ({"y_true": [], "y_pred": [], "average": "macro"}, "empty"),
        ({"y_true": [np.array([0, 1])], "y_pred": [np.array([0, 1])], "average": "macro"}, "one label per sample"),
    ],
    ids=["binary with three labels", "unknown average", "length mismatch", "empty", "label maps"],
)
def test_f1_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        f1_score(**kwargs)
