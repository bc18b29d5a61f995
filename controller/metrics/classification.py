"""Accuracy and F1 for per-sample labels (and pixel accuracy for sequences of label maps).

Why our own and not scikit-learn: the controller must stay light, and the conventions (ignore
index for maps, what happens on 0/0) are stated here once instead of inherited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

__all__ = ["accuracy", "f1_score"]

_AVERAGES = ("macro", "micro", "binary")


def _check_pair(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Both inputs as lists of the same, non-zero length."""
    t, p = list(y_true), list(y_pred)
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} samples but y_pred has {len(p)}")
    if not t:
        raise ValueError("y_true and y_pred are empty: nothing to score")
    return t, p


def _is_map(sample: Any) -> bool:
    return np.ndim(sample) > 0


def _pixel_accuracy(t: list[Any], p: list[Any], ignore_index: int) -> float:
    """Dataset-level pixel accuracy: correct / valid pixels over all maps (gt != ignore_index)."""
    correct = 0
    valid = 0
    for i, (gt, pred) in enumerate(zip(t, p)):
        gt_arr, pred_arr = np.asarray(gt), np.asarray(pred)
        if gt_arr.shape != pred_arr.shape:
            raise ValueError(
                f"sample {i}: ground truth shape {gt_arr.shape} and prediction shape {pred_arr.shape} differ"
            )
        keep = gt_arr != ignore_index
        valid += int(keep.sum())
        correct += int(((gt_arr == pred_arr) & keep).sum())
    return correct / valid if valid else float("nan")


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any], *, ignore_index: int = 255) -> float:
    """Fraction of correct predictions.

    * Sequence of scalar labels: acc = #{i : y_true[i] == y_pred[i]} / N.
    * Sequence of label maps (arrays): pixel accuracy over the whole sequence,
      acc = sum_i #{correct pixels of i with gt != ignore_index} / sum_i #{pixels with gt != ignore_index};
      NaN if every pixel is ignored. (Unlike :mod:`.segmentation`, no class range is known here, so
      only ``ignore_index`` is dropped; a prediction of 255 on a valid pixel is simply wrong.)

    Raises ValueError on a length mismatch, empty input, or a mix of scalars and maps.
    """
    t, p = _check_pair(y_true, y_pred)
    kinds = {_is_map(x) for x in t}
    if len(kinds) > 1:
        raise ValueError("y_true mixes scalar labels and label maps")
    if kinds == {True}:
        return _pixel_accuracy(t, p, ignore_index)
    correct = sum(1 for gt, pred in zip(t, p) if bool(gt == pred))
    return correct / len(t)


def _scalar_labels(name: str, values: list[Any]) -> list[Hashable]:
    """Labels as plain Python values (numpy scalars unwrapped) so that Counter keys compare equal."""
    out: list[Hashable] = []
    for i, v in enumerate(values):
        if _is_map(v):
            raise ValueError(f"{name}[{i}] is an array; f1_score expects one label per sample")
        out.append(v.item() if isinstance(v, np.generic) else v)
    return out


def _f1(tp: int, fp: int, fn: int) -> float:
    """F1 = 2TP / (2TP + FP + FN); 0.0 when the denominator is 0 (scikit-learn's zero_division=0)."""
    den = 2 * tp + fp + fn
    return 2 * tp / den if den else 0.0


def f1_score(y_true: Sequence[Any], y_pred: Sequence[Any], average: str = "macro", pos_label: Hashable = 1) -> float:
    """F1 score of single-label predictions; per class c: F1_c = 2TP_c / (2TP_c + FP_c + FN_c).

    * ``macro``: unweighted mean of F1_c over every label seen in y_true or y_pred.
    * ``micro``: 2 sum TP / (2 sum TP + sum FP + sum FN); for single-label data this equals accuracy.
    * ``binary``: F1 of ``pos_label`` only; the data may hold at most two distinct labels. If
      ``pos_label`` never occurs the score is 0.0 (0/0, scikit-learn's zero_division=0).

    Raises ValueError on a length mismatch, empty input, array samples, an unknown ``average``
    or more than two labels with ``average="binary"``.
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {', '.join(_AVERAGES)}; got {average!r}")
    t_raw, p_raw = _check_pair(y_true, y_pred)
    t = _scalar_labels("y_true", t_raw)
    p = _scalar_labels("y_pred", p_raw)
    labels = set(t) | set(p)
    tp: Counter[Hashable] = Counter(a for a, b in zip(t, p) if a == b)
    fn: Counter[Hashable] = Counter(a for a, b in zip(t, p) if a != b)
    fp: Counter[Hashable] = Counter(b for a, b in zip(t, p) if a != b)
    if average == "binary":
        if len(labels) > 2:
            raise ValueError(f"average='binary' needs at most two labels, got {len(labels)}; use 'macro' or 'micro'")
        return _f1(tp[pos_label], fp[pos_label], fn[pos_label])
    if average == "micro":
        return _f1(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return float(np.mean([_f1(tp[c], fp[c], fn[c]) for c in labels]))
