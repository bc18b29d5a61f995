"""Semantic-segmentation metrics from a dataset-level confusion matrix.

Why a confusion matrix: mIoU must be accumulated over the whole split (sum the pixel counts of
every image, then divide once), not averaged per image; RFNet, the Ianvs examples and the
Cityscapes benchmark all do it this way, so per-image means would not be comparable.

Conventions (C = ``num_classes``):

* rows = ground truth, columns = prediction; ``M[g, p]`` = number of pixels of class g predicted p.
* A pixel whose ground truth is ``ignore_index`` or outside ``[0, C)`` is dropped entirely: it is
  neither a false positive nor a false negative of anything.
* A prediction outside ``[0, C)`` (e.g. 255 from a model that abstains), or equal to an
  ``ignore_index`` that lies inside ``[0, C)``, on a valid ground-truth pixel is kept in a separate
  "other" column: it is a false negative of the ground-truth class and a false positive of no
  class. This is how the official Cityscapes evaluation treats predictions of ignored ids. (RFNet's
  ``Evaluator`` instead drops such pixels, which inflates IoU; the two agree when the model only
  predicts valid classes.)

All-NaN reductions (e.g. nothing accumulated yet) return ``float('nan')`` without a RuntimeWarning.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ConfusionMatrix",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "mean_class_accuracy",
    "frequency_weighted_iou",
]


def _check_integer_ids(what: str, arr: np.ndarray) -> None:
    """Class ids must be integers: a float map is almost always an un-argmaxed score map."""
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{what} must hold integer class ids, got dtype {arr.dtype}")


class ConfusionMatrix:
    """Pixel counts ``M[g, p]`` accumulated over a whole split, plus the "other" column.

    Internally a ``C x (C + 1)`` int64 array; column ``C`` counts valid ground-truth pixels whose
    prediction is not a class id (see the module docstring).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise ValueError(f"ignore_index must be an integer, got {ignore_index!r}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._counts = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one label map (any shape, integer dtype) and its prediction of the same shape.

        Index trick: ``bincount(g * (C + 1) + p)`` counts every (g, p) pair in one vectorised pass,
        which keeps a 2048x1024 map in the tens of milliseconds.
        """
        gt_arr = np.asarray(gt)
        pred_arr = np.asarray(pred)
        if gt_arr.shape != pred_arr.shape:
            raise ValueError(f"ground truth shape {gt_arr.shape} and prediction shape {pred_arr.shape} differ")
        _check_integer_ids("ground truth", gt_arr)
        _check_integer_ids("prediction", pred_arr)
        c = self.num_classes
        # intp: uint8 * (C + 1) would overflow in the input dtype.
        g = gt_arr.ravel().astype(np.intp, copy=False)
        p = pred_arr.ravel().astype(np.intp, copy=False)
        valid = (g >= 0) & (g < c)
        ignore_is_class = 0 <= self.ignore_index < c
        if ignore_is_class:
            valid &= g != self.ignore_index
        if not valid.all():
            g = g[valid]
            p = p[valid]
        p_is_class = (p >= 0) & (p < c)
        if ignore_is_class:
            p_is_class &= p != self.ignore_index
        p = np.where(p_is_class, p, c)
        counts = np.bincount(g * (c + 1) + p, minlength=c * (c + 1))
        self._counts += counts.reshape(c, c + 1)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix's counts (e.g. from a parallel worker); label spaces must agree."""
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"can only merge a ConfusionMatrix, got {type(other).__name__}")
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "cannot merge confusion matrices with different label spaces: "
                f"num_classes={self.num_classes}, ignore_index={self.ignore_index} vs "
                f"num_classes={other.num_classes}, ignore_index={other.ignore_index}"
            )
        self._counts += other._counts

    def reset(self) -> None:
        """Forget all counts."""
        self._counts[...] = 0

    @property
    def matrix(self) -> np.ndarray:
        """``C x C`` int64 copy; rows = ground truth, columns = prediction (no "other" column)."""
        return self._counts[:, : self.num_classes].copy()

    @property
    def other(self) -> np.ndarray:
        """Per ground-truth class: pixels predicted as a non-class id (false negatives only)."""
        return self._counts[:, self.num_classes].copy()

    @property
    def full_matrix(self) -> np.ndarray:
        """``C x (C + 1)`` int64 copy: :attr:`matrix` with :attr:`other` as the last column."""
        return self._counts.copy()

    @property
    def total(self) -> int:
        """Number of valid (non-ignored) ground-truth pixels accumulated."""
        return int(self._counts.sum())

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, total={self.total})"


CMLike = ConfusionMatrix | np.ndarray


def _counts(cm: CMLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(TP, ground-truth count incl. "other", prediction count, total) per class as float64.

    Accepts a ConfusionMatrix, a square ``C x C`` array (no "other" pixels) or a ``C x (C + 1)``
    array whose last column is "other".
    """
    if isinstance(cm, ConfusionMatrix):
        full = cm.full_matrix
    else:
        full = np.asarray(cm)
        if full.ndim != 2 or full.shape[1] not in (full.shape[0], full.shape[0] + 1) or full.shape[0] < 1:
            raise ValueError(f"confusion matrix must be C x C or C x (C+1), got shape {full.shape}")
    full = full.astype(np.float64)
    c = full.shape[0]
    square = full[:, :c]
    tp = np.diag(square).copy()
    gt_count = full.sum(axis=1)
    pred_count = square.sum(axis=0)
    return tp, gt_count, pred_count, float(full.sum())


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise num / den with NaN where den == 0 (no RuntimeWarning)."""
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without a warning) when there are none."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def iou_per_class(cm: CMLike) -> np.ndarray:
    """IoU_c = TP_c / (TP_c + FP_c + FN_c) for every class c.

    TP_c = M[c, c]; FN_c = sum_p M[c, p] - TP_c + other_c; FP_c = sum_g M[g, c] - TP_c.
    NaN where the class is absent from both ground truth and prediction (0/0).
    """
    tp, gt_count, pred_count, _ = _counts(cm)
    return _safe_divide(tp, gt_count + pred_count - tp)


def mean_iou(cm: CMLike) -> float:
    """mIoU = nanmean_c IoU_c.

    A class absent from the ground truth but predicted somewhere has IoU 0 and is included; one
    absent from both is NaN and excluded (RFNet / Ianvs / Cityscapes convention).
    """
    return _nanmean(iou_per_class(cm))


def pixel_accuracy(cm: CMLike) -> float:
    """PA = sum_c TP_c / (number of valid ground-truth pixels); NaN if there are none."""
    tp, _, _, total = _counts(cm)
    return float(tp.sum() / total) if total else float("nan")


def mean_class_accuracy(cm: CMLike) -> float:
    """CPA / mAcc = nanmean over classes present in the ground truth of TP_c / gt_count_c.

    gt_count_c includes the class's "other" pixels, so an abstention is a miss.
    """
    tp, gt_count, _, _ = _counts(cm)
    return _nanmean(_safe_divide(tp, gt_count))


def frequency_weighted_iou(cm: CMLike) -> float:
    """FWIoU = sum_{c: f_c > 0} f_c * IoU_c with f_c = gt_count_c / total; NaN if total == 0.

    Classes with f_c > 0 always have a defined IoU (their denominator is at least gt_count_c).
    """
    tp, gt_count, pred_count, total = _counts(cm)
    if not total:
        return float("nan")
    present = gt_count > 0
    iou = tp[present] / (gt_count[present] + pred_count[present] - tp[present])
    return float(np.sum(gt_count[present] / total * iou))
