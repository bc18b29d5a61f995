"""Specification of controller.metrics.lifelong: GEM metrics, forgetting, Ianvs variants, transfer ratio."""

from __future__ import annotations

import numpy as np
import pytest

from controller.metrics.lifelong import (
    LifelongInfo,
    acc,
    bwt,
    bwt_ianvs,
    forgetting,
    fwt,
    fwt_ianvs,
    ianvs_matrix,
    samples_transfer_ratio,
    samples_transfer_ratio_ianvs,
    task_avg_acc,
)

# R[i][j] = score on task j after training round i (T = 3); baseline = untrained model.
R = [
    [0.8, 0.1, 0.2],
    [0.6, 0.9, 0.3],
    [0.5, 0.7, 0.95],
]
BASELINE = [0.1, 0.05, 0.15]
# ACC        = (0.5 + 0.7 + 0.95) / 3                      = 2.15 / 3
# BWT        = ((0.5 - 0.8) + (0.7 - 0.9)) / 2              = -0.25
# FWT        = ((R[0][1] - b1) + (R[1][2] - b2)) / 2
#            = ((0.1 - 0.05) + (0.3 - 0.15)) / 2            = 0.1
# forgetting = ((max(0.8, 0.6) - 0.5) + (max(0.1, 0.9) - 0.7)) / 2 = (0.3 + 0.2) / 2 = 0.25
# Ianvs M    = [BASELINE, *R], K = 3
# BWT_ianvs  = 1/9 * sum_i sum_j (M[i+1][j] - M[i][j]) = 1/9 * sum_j (M[3][j] - M[0][j])
#            = ((0.5 - 0.1) + (0.7 - 0.05) + (0.95 - 0.15)) / 9 = 1.85 / 9
# FWT_ianvs  = ((M[0][0] - M[0][0]) + (M[1][1] - M[0][1]) + (M[2][2] - M[0][2])) / 3
#            = (0 + (0.1 - 0.05) + (0.3 - 0.15)) / 3         = 0.2 / 3


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (acc, 2.15 / 3),
        (task_avg_acc, 2.15 / 3),
        (bwt, -0.25),
        (forgetting, 0.25),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_gem_metrics_of_worked_example(fn, expected):
    assert fn(R) == pytest.approx(expected)


def test_fwt_of_worked_example():
    assert fwt(R, BASELINE) == pytest.approx(0.1)


def test_ianvs_matrix_stacks_baseline_as_row_zero():
    assert ianvs_matrix(R, BASELINE).tolist() == [BASELINE, *R]


def test_bwt_ianvs_of_worked_example():
    assert bwt_ianvs(ianvs_matrix(R, BASELINE)) == pytest.approx(1.85 / 9)


def test_fwt_ianvs_of_worked_example():
    assert fwt_ianvs(ianvs_matrix(R, BASELINE)) == pytest.approx(0.2 / 3)


def test_ianvs_bwt_can_be_positive_while_gem_bwt_shows_forgetting():
    m = ianvs_matrix(R, BASELINE)
    assert bwt(R) < 0 < bwt_ianvs(m)


def test_bwt_ianvs_sums_every_round_difference_of_a_given_matrix():
    # K = 2, M = [[0, 0], [1, 0], [0.5, 2]]
    # (M1-M0) = [1, 0], (M2-M1) = [-0.5, 2] -> sum 2.5 -> / 4 = 0.625
    assert bwt_ianvs([[0, 0], [1, 0], [0.5, 2]]) == pytest.approx(0.625)


@pytest.mark.parametrize("seed", range(10))
def test_ianvs_variants_relate_to_gem_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    t = int(rng.integers(2, 7))
    r, b = rng.random((t, t)), rng.random(t)
    m = ianvs_matrix(r, b)
    # FWT_ianvs counts a zero i=0 term and divides by T instead of T-1
    assert fwt_ianvs(m) == pytest.approx((t - 1) / t * fwt(r, b))
    # BWT_ianvs telescopes to the final gain over the baseline, divided by T^2
    assert bwt_ianvs(m) == pytest.approx(float(np.sum(r[-1] - b)) / t**2)


def test_single_task_gem_transfers_are_nan_and_acc_is_the_score():
    assert acc([[0.7]]) == pytest.approx(0.7)
    assert np.isnan(bwt([[0.7]]))
    assert np.isnan(fwt([[0.7]], [0.1]))
    assert np.isnan(forgetting([[0.7]]))


def test_single_task_ianvs_variants():
    # K = 1, M = [[0.1], [0.7]]: BWT = (0.7 - 0.1) / 1, FWT = (M[0][0] - M[0][0]) / 1 = 0
    assert bwt_ianvs([[0.1], [0.7]]) == pytest.approx(0.6)
    assert fwt_ianvs([[0.1], [0.7]]) == 0.0


def test_numpy_input_is_accepted():
    assert bwt(np.array(R)) == pytest.approx(-0.25)


@pytest.mark.parametrize(
    "fn",
    [acc, bwt, forgetting, task_avg_acc, lambda r: fwt(r, [0, 0, 0]), lambda r: ianvs_matrix(r, [0, 0, 0])],
    ids=["acc", "bwt", "forgetting", "task_avg_acc", "fwt", "ianvs_matrix"],
)
@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[1, 2, 3], [1, 2], [1, 2, 3]], "row 1 has 2 entries but row 0 has 3"),
        ([[1, 2, 3], [1, 2, 3]], "T x T"),
        ([], "empty"),
        ([[]], "empty"),
    ],
    ids=["ragged", "not square", "no rows", "no columns"],
)
def test_gem_family_rejects_bad_matrices(fn, matrix, match):
    with pytest.raises(ValueError, match=match):
        fn(matrix)


@pytest.mark.parametrize("fn", [bwt_ianvs, fwt_ianvs])
@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[0, 0], [1], [1, 1]], "row 1 has 1 entries"),
        ([[0, 0], [1, 1]], "K\\+1 rows"),
        ([[0], [1], [2]], "K\\+1 rows"),
        ([], "empty"),
    ],
    ids=["ragged", "square", "too many rows", "empty"],
)
def test_ianvs_family_rejects_bad_matrices(fn, matrix, match):
    with pytest.raises(ValueError, match=match):
        fn(matrix)


@pytest.mark.parametrize("baseline", [[0.1, 0.2], [0.1, 0.2, 0.3, 0.4], [[0.1, 0.2, 0.3]]])
@pytest.mark.parametrize("fn", [fwt, ianvs_matrix])
def test_baseline_must_have_one_value_per_task(fn, baseline):
    with pytest.raises(ValueError, match="one value per task"):
        fn(R, baseline)


@pytest.mark.parametrize(
    ("transferred", "inferred", "ours", "ianvs"),
    [
        (3, 12, 0.25, 0.2308),  # 3/12; round(3/13, 4) = round(0.230769.., 4)
        (0, 5, 0.0, 0.0),
        (5, 5, 1.0, 0.8333),  # round(5/6, 4)
        (0, 0, float("nan"), 0.0),
    ],
)
def test_samples_transfer_ratio(transferred, inferred, ours, ianvs):
    got = samples_transfer_ratio(transferred, inferred)
    assert (np.isnan(got) and np.isnan(ours)) or got == pytest.approx(ours)
    assert samples_transfer_ratio_ianvs(transferred, inferred) == ianvs


@pytest.mark.parametrize("fn", [samples_transfer_ratio, samples_transfer_ratio_ianvs])
@pytest.mark.parametrize(
    ("transferred", "inferred", "match"),
    [(-1, 3, "non-negative"), (1, -3, "non-negative"), (4, 3, "exceeds inferred")],
)
def test_samples_transfer_ratio_rejects_impossible_counts(fn, transferred, inferred, match):
    with pytest.raises(ValueError, match=match):
        fn(transferred, inferred)


def test_lifelong_info_defaults_to_no_transfers():
    info = LifelongInfo(R=[[1.0]], baseline=[0.0], tasks=["front"])
    assert (info.transferred, info.inferred) == (0, 0)
