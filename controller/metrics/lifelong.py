"""Lifelong-learning (continual-learning) system metrics from a task-accuracy matrix.

Two families are provided because they disagree numerically and users compare against both:

* GEM (Lopez-Paz & Ranzato, NeurIPS 2017), the literature standard: :func:`acc`, :func:`bwt`,
  :func:`fwt`, plus :func:`forgetting` (Chaudhry et al. 2018).
* KubeEdge Ianvs's own implementation (``core/testcasecontroller/metrics/metrics.py``):
  :func:`bwt_ianvs`, :func:`fwt_ianvs`, :func:`samples_transfer_ratio_ianvs`.

Matrix convention (0-based, unlike the paper's 1-based indices): ``R`` is T x T and
``R[i][j]`` = metric (accuracy, mIoU, ...) on task j's test data after training round i, i.e.
after the model has seen tasks 0..i. ``baseline[j]`` (the paper's b-bar_j) = the metric of the
untrained / round-0 model on task j. Ianvs's matrix ``M`` is the same data with the baseline as an
extra first row: ``M = ianvs_matrix(R, baseline)``, shape (T+1) x T, so both families are
computed from what we store.

Rows of unequal length raise ValueError (Ianvs silently returns NaN instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LifelongInfo",
    "acc",
    "bwt",
    "fwt",
    "task_avg_acc",
    "forgetting",
    "ianvs_matrix",
    "bwt_ianvs",
    "fwt_ianvs",
    "samples_transfer_ratio",
    "samples_transfer_ratio_ianvs",
]

MatrixLike = Sequence[Sequence[float]] | np.ndarray


@dataclass
class LifelongInfo:
    """What a lifelong test case records for the system metrics.

    Attributes:
        R: T x T matrix, ``R[i][j]`` = metric on task j after training round i (see module doc).
        baseline: ``baseline[j]`` = metric of the untrained model on task j (length T).
        tasks: task names, one per column of R (for reports; metrics do not use them).
        transferred: samples sent from edge to cloud (hard examples / unseen-task samples), all rounds.
        inferred: samples inferred on the edge, all rounds.
    """

    R: list[list[float]]
    baseline: list[float]
    tasks: list[str] = field(default_factory=list)
    transferred: int = 0
    inferred: int = 0


def _as_matrix(m: MatrixLike, name: str) -> np.ndarray:
    """A non-empty 2-D float array; ragged rows are refused with the offending row named."""
    if isinstance(m, np.ndarray):
        arr = m.astype(np.float64)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    else:
        rows = [list(r) for r in m]
        if rows:
            width = len(rows[0])
            for i, row in enumerate(rows):
                if len(row) != width:
                    raise ValueError(
                        f"{name}: row {i} has {len(row)} entries but row 0 has {width}; "
                        "every row must cover the same tasks"
                    )
        arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1 if rows else 0)
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one task is needed")
    return arr


def _square(r: MatrixLike) -> np.ndarray:
    arr = _as_matrix(r, "R")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"R must be T x T (one row per training round, one column per task), got {arr.shape}")
    return arr


def _baseline(baseline: Sequence[float] | np.ndarray, t: int) -> np.ndarray:
    b = np.asarray(baseline, dtype=np.float64)
    if b.shape != (t,):
        raise ValueError(f"baseline must hold one value per task ({t}), got shape {b.shape}")
    return b


def acc(R: MatrixLike) -> float:
    """ACC = (1/T) * sum_{j=0}^{T-1} R[T-1][j]: mean metric over all tasks after the last round."""
    r = _square(R)
    return float(r[-1].mean())


def task_avg_acc(R: MatrixLike) -> float:
    """Ianvs's name for the mean over tasks of the final model's metric: the same number as :func:`acc`.

    (Ianvs also rounds to 3 d.p. and evaluates on its separate test split; we do neither.)
    """
    return acc(R)


def bwt(R: MatrixLike) -> float:
    """Backward transfer (GEM): BWT = 1/(T-1) * sum_{i=0}^{T-2} (R[T-1][i] - R[i][i]).

    Negative = forgetting of earlier tasks. NaN when T == 1 (no earlier task to look back at).
    """
    r = _square(R)
    t = r.shape[0]
    if t == 1:
        return float("nan")
    return float(np.mean(r[-1, :-1] - np.diag(r)[:-1]))


def fwt(R: MatrixLike, baseline: Sequence[float] | np.ndarray) -> float:
    """Forward transfer (GEM): FWT = 1/(T-1) * sum_{i=1}^{T-1} (R[i-1][i] - baseline[i]).

    How much training on tasks 0..i-1 helps task i before it is learned, relative to the untrained
    model. NaN when T == 1 (no task is ever seen in advance).
    """
    r = _square(R)
    t = r.shape[0]
    b = _baseline(baseline, t)
    if t == 1:
        return float("nan")
    before = np.array([r[i - 1, i] for i in range(1, t)])
    return float(np.mean(before - b[1:]))


def forgetting(R: MatrixLike) -> float:
    """Average forgetting (Chaudhry et al. 2018) after the last round:

    F = 1/(T-1) * sum_{j=0}^{T-2} ( max_{l=0}^{T-2} R[l][j] - R[T-1][j] ).

    Positive = knowledge lost since the best earlier score. NaN when T == 1.
    """
    r = _square(R)
    t = r.shape[0]
    if t == 1:
        return float("nan")
    best = r[:-1, :-1].max(axis=0)
    return float(np.mean(best - r[-1, :-1]))


def ianvs_matrix(R: MatrixLike, baseline: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ianvs's (T+1) x T matrix: ``baseline`` as row 0, then the rows of R (float64 array)."""
    r = _square(R)
    b = _baseline(baseline, r.shape[0])
    return np.vstack([b, r])


def _ianvs_shape(M: MatrixLike) -> tuple[np.ndarray, int]:
    m = _as_matrix(M, "M")
    k = m.shape[1]
    if m.shape[0] != k + 1:
        raise ValueError(f"Ianvs matrix must have K+1 rows (row 0 = round-0 model) and K columns, got {m.shape}")
    return m, k


def bwt_ianvs(M: MatrixLike) -> float:
    """BWT as KubeEdge Ianvs computes it: (1/K^2) * sum_{i=0}^{K-1} sum_{j=0}^{K-1} (M[i+1][j] - M[i][j]).

    ``M`` has K+1 rows (row 0 = round-0/baseline model) and K columns (see :func:`ianvs_matrix`).
    How it differs from GEM's :func:`bwt`:

    * the inner sum telescopes, so it equals (1/K^2) * sum_j (M[K][j] - M[0][j]): the final
      model's gain over the round-0 model, not the change since each task was learned
      (GEM: R[T-1][i] - R[i][i]);
    * it includes tasks not yet learned at round i (GEM only looks at learned tasks) and the
      last task (GEM excludes it);
    * it divides by K^2 rather than T-1.

    So a positive Ianvs BWT can coexist with forgetting. Kept only for comparability with Ianvs.
    """
    m, k = _ianvs_shape(M)
    return float(np.sum(m[1:] - m[:-1]) / k**2)


def fwt_ianvs(M: MatrixLike) -> float:
    """FWT as KubeEdge Ianvs computes it: (1/K) * sum_{i=0}^{K-1} (M[i][i] - M[0][i]).

    ``M[i][i]`` is the model after round i (i tasks seen) on task i, i.e. before learning it, and
    ``M[0][i]`` the round-0 model on it. Differences from GEM's :func:`fwt`: the i=0 term is always
    0 yet counted, so it divides by K rather than K-1; with ``M = ianvs_matrix(R, b)``,
    fwt_ianvs(M) = (T-1)/T * fwt(R, b). Ianvs approximates b by a model trained on one sample.
    """
    m, k = _ianvs_shape(M)
    return float(np.sum(np.diag(m[:k]) - m[0]) / k)


def _check_counts(transferred: int, inferred: int) -> None:
    if transferred < 0 or inferred < 0:
        raise ValueError(f"sample counts must be non-negative, got transferred={transferred}, inferred={inferred}")
    if transferred > inferred:
        raise ValueError(
            f"transferred ({transferred}) exceeds inferred ({inferred}): only inferred samples can be sent"
        )


def samples_transfer_ratio(transferred: int, inferred: int) -> float:
    """STR = transferred / inferred: share of edge-inferred samples sent to the cloud; NaN if inferred == 0.

    Ianvs instead reports round(transferred / (inferred + 1), 4) (see
    :func:`samples_transfer_ratio_ianvs`), which is never NaN but biased low for small counts.
    """
    _check_counts(transferred, inferred)
    return transferred / inferred if inferred else float("nan")


def samples_transfer_ratio_ianvs(transferred: int, inferred: int) -> float:
    """Ianvs's STR = round(transferred / (inferred + 1), 4); 0.0 when nothing was inferred."""
    _check_counts(transferred, inferred)
    return round(transferred / (inferred + 1), 4)
