"""Greedy matching: the vectorised, all-thresholds-at-once versions against plain loops that
transcribe the spec, on random IoU matrices full of ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reward_service.verifiers._det_match import (
    iou_first,
    iou_first_vtriune,
    label_first,
    threshold_scores,
)

Array = np.ndarray


def loop_label_first(iou: Array, same: Array, tau: float) -> tuple[int, float]:
    """For each GT in order, the free same-label prediction of highest IoU, first on ties."""
    used: set[int] = set()
    count, total = 0, 0.0
    for j in range(iou.shape[1]):
        best = -1
        for i in range(iou.shape[0]):
            if i not in used and same[i, j] and (best < 0 or iou[i, j] > iou[best, j]):
                best = i
        if best >= 0 and iou[best, j] >= tau:
            used.add(best)
            count, total = count + 1, total + iou[best, j]
    return count, total


def loop_iou_first(iou: Array, same: Array, tau: float) -> tuple[int, float]:
    """Repeatedly the highest-IoU free pair (first in (pred, gt) order) while IoU ≥ τ."""
    free_pred, free_gt = list(range(iou.shape[0])), list(range(iou.shape[1]))
    count, total = 0, 0.0
    while free_pred and free_gt:
        best = max(((i, j) for i in free_pred for j in free_gt), key=lambda p: iou[p])
        if iou[best] < tau:
            break
        free_pred.remove(best[0])
        free_gt.remove(best[1])
        count, total = count + 1, total + (iou[best] if same[best] else 0.0)
    return count, total


# IoU values from a small set, so ties (including many zeros) are the rule
matrices = st.tuples(st.integers(0, 7), st.integers(1, 7)).flatmap(
    lambda shape: st.tuples(
        hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.0, 0.3, 0.5, 0.86, 1.0])),
        hnp.arrays(np.bool_, shape),
    )
)
taus = st.lists(st.sampled_from([0.0, 0.3, 0.5, 0.85, 0.86, 0.99, 1.0]), min_size=1, max_size=11)


@settings(max_examples=300, deadline=None)
@given(matrices, taus)
def test_label_first_matches_the_loop(matrix: tuple[Array, Array], thresholds: list[float]) -> None:
    iou, same = matrix
    count, total = label_first(iou, same, np.array(thresholds))
    expected = [loop_label_first(iou, same, t) for t in thresholds]
    assert count.tolist() == [n for n, _ in expected]
    assert total.tolist() == pytest.approx([t for _, t in expected])


@settings(max_examples=300, deadline=None)
@given(matrices, taus)
def test_iou_first_matches_the_loop(matrix: tuple[Array, Array], thresholds: list[float]) -> None:
    iou, same = matrix
    count, total = iou_first(iou, same, np.array(thresholds))
    expected = [loop_iou_first(iou, same, t) for t in thresholds]
    assert count.tolist() == [n for n, _ in expected]
    assert total.tolist() == pytest.approx([t for _, t in expected])


def loop_iou_first_vtriune(iou: Array, same: Array, tau: float) -> tuple[int, float]:
    """V-Triune's loop as it ran: it finds the highest IoU over the free pairs, but the pair it
    records and removes is the last free prediction with the last free GT box."""
    free_pred, free_gt = list(range(iou.shape[0])), list(range(iou.shape[1]))
    count, total = 0, 0.0
    while free_pred and free_gt:
        highest = max(iou[i, j] for i in free_pred for j in free_gt)
        if highest < tau:
            break
        i, j = free_pred.pop(), free_gt.pop()
        count, total = count + 1, total + (highest if same[i, j] else 0.0)
    return count, total


@settings(max_examples=300, deadline=None)
@given(matrices, taus)
def test_iou_first_vtriune_matches_its_loop(
    matrix: tuple[Array, Array], thresholds: list[float]
) -> None:
    iou, same = matrix
    count, total = iou_first_vtriune(iou, same, np.array(thresholds))
    expected = [loop_iou_first_vtriune(iou, same, t) for t in thresholds]
    assert count.tolist() == [n for n, _ in expected]
    assert total.tolist() == pytest.approx([t for _, t in expected])


def test_iou_first_vtriune_differs_where_the_bug_bites() -> None:
    # pred 0 fits GT 0 exactly, nothing else overlaps: one match of IoU 1. V-Triune's first
    # round sees IoU 1 but removes (pred 1, GT 1) and pays it 1; its second round pays (0, 0)
    iou = np.array([[1.0, 0.0], [0.0, 0.0]])
    same = np.ones((2, 2), dtype=bool)
    taus = np.array([0.5])
    count, total = iou_first(iou, same, taus)
    assert (count.tolist(), total.tolist()) == ([1.0], [1.0])
    count, total = iou_first_vtriune(iou, same, taus)
    assert (count.tolist(), total.tolist()) == ([2.0], [2.0])


@pytest.mark.parametrize(
    ("count", "total", "n_pred", "n_gt", "c", "expected"),
    [
        (1, 1.0, 1, 1, 0.3, 1.0),  # perfect
        (1, 0.86, 1, 1, 0.3, 0.7 * 0.86 + 0.3),  # one match of IoU 0.86
        (0, 0.0, 1, 1, 0.3, 0.0),  # a miss and a false alarm
        (1, 1.0, 1, 2, 0.3, 0.7 * 0.5 + 0.3 * 0.75),  # half the GT found: miss 1/2
        (1, 1.0, 3, 1, 0.3, 0.7 + 0.3 * (1 - 1 / 3)),  # two false alarms: fa 2/3
        (0, 0.0, 0, 2, 0.3, 0.3 * 0.5),  # no predictions: fa counts 0, miss 1
        (1, 0.5, 1, 1, 1.0, 1.0),  # c = 1: counts only
    ],
)
def test_threshold_scores(
    count: int, total: float, n_pred: int, n_gt: int, c: float, expected: float
) -> None:
    scores = threshold_scores(np.array([count], float), np.array([total]), n_pred, n_gt, c)
    assert scores[0] == pytest.approx(expected)
