"""V-Triune's greedy box matching, evaluated at several IoU thresholds in one pass.

Both functions take the IoU matrix ``iou`` (n_pred, n_gt), the boolean ``same_label`` matrix
of the same shape and the thresholds ``taus`` (T,), and return, per threshold, the number of
matches and the sum of matched IoU.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def label_first(iou: Array, same_label: Mask, taus: Array) -> tuple[Array, Array]:
    """For each GT box in order, the free same-label prediction of highest IoU (first on
    ties) is matched when its IoU ≥ τ; a rejected candidate stays free."""
    n_pred, n_gt = iou.shape
    count, total = np.zeros(len(taus)), np.zeros(len(taus))
    free = np.ones((len(taus), n_pred), dtype=bool)
    rows = np.arange(len(taus))
    for j in range(n_gt if n_pred else 0):
        candidates = free & same_label[:, j]
        values = np.where(candidates, iou[:, j], -1.0)
        best = values.argmax(axis=1)
        best_iou = values[rows, best]
        accepted = best_iou >= taus  # ≥ 0 > −1, so only a real candidate is accepted
        free[rows[accepted], best[accepted]] = False
        count += accepted
        total += np.where(accepted, best_iou, 0.0)
    return count, total


def iou_first(iou: Array, same_label: Mask, taus: Array) -> tuple[Array, Array]:
    """Repeatedly the globally highest-IoU free pair (first in (pred, gt) order on ties) while
    its IoU ≥ τ; a label mismatch scores IoU 0 but still uses up both boxes.

    Greedy matching in descending IoU never looks below the current pair, so the matches at τ
    are the prefix, down to τ, of one greedy pass: one pass serves every threshold.
    """
    n_pred, n_gt = iou.shape
    flat = iou.ravel()
    order = np.argsort(-flat, kind="stable")
    order = order[flat[order] > 0]  # pairs of IoU 0 are handled in bulk below
    free_pred, free_gt = np.ones(n_pred, dtype=bool), np.ones(n_gt, dtype=bool)
    values: list[float] = []
    scored: list[float] = []
    for index in order.tolist():
        if len(values) == min(n_pred, n_gt):
            break
        i, j = divmod(index, n_gt)
        if free_pred[i] and free_gt[j]:
            free_pred[i] = free_gt[j] = False
            values.append(float(flat[index]))
            scored.append(float(flat[index]) if same_label[i, j] else 0.0)
    zeros = min(int(free_pred.sum()), int(free_gt.sum()))  # matched only when τ = 0
    values += [0.0] * zeros
    scored += [0.0] * zeros
    sums = np.concatenate([[0.0], np.cumsum(scored)])
    # values descend, so the matches at τ are the first k with value ≥ τ
    k = np.searchsorted(-np.array(values), -taus, side="right")
    return k.astype(np.float64), sums[k]


def iou_first_vtriune(iou: Array, same_label: Mask, taus: Array) -> tuple[Array, Array]:
    """V-Triune's iou-first as its code ran: each round finds the highest IoU among the free
    pairs, but — its loop variables shadow the argmax — records that IoU for, and uses up, the
    *last* free prediction and the *last* free GT box (label-checked on that pair).

    Only for ``/judge`` replay. The free boxes are always the first ``n_pred − k`` predictions
    and ``n_gt − k`` GT boxes after k rounds, so round k's maximum is that of a shrinking
    top-left block, computed for all rounds in one backward sweep; it never rises, so the
    matches at τ are again a prefix.
    """
    n_pred, n_gt = iou.shape
    rounds = min(n_pred, n_gt)
    block_max = np.zeros(rounds)
    running = -1.0
    for r in range(rounds - 1, -1, -1):  # block (n_pred − r) × (n_gt − r), grown by one edge
        rows, cols = n_pred - r, n_gt - r
        running = max(running, float(iou[rows - 1, :cols].max()), float(iou[:rows, cols - 1].max()))
        block_max[r] = running
    index = np.arange(rounds)
    last_same = same_label[n_pred - 1 - index, n_gt - 1 - index]
    sums = np.concatenate([[0.0], np.cumsum(np.where(last_same, block_max, 0.0))])
    k = np.searchsorted(-block_max, -taus, side="right")
    return k.astype(np.float64), sums[k]


def threshold_scores(
    count: Array, total: Array, n_pred: int, n_gt: int, completeness: float
) -> Array:
    """score_τ = (1 − c)·ΣIoU/Ng + c·(1 − (miss + fa)/2), miss and fa the unmatched fractions."""
    mean_iou = total / n_gt
    miss = (n_gt - count) / n_gt
    false_alarm = (n_pred - count) / n_pred if n_pred else np.zeros_like(count)
    return mean_iou * (1.0 - completeness) + (1.0 - (miss + false_alarm) / 2.0) * completeness
