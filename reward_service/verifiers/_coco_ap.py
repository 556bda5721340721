"""COCO bbox AP for one image in numpy, with no per-sample ``COCO``/``COCOeval`` set-up.

Follows pycocotools' ``evaluateImg`` and ``accumulate`` for area range "all" and maxDets 100:
per class, detections in ranking order each take the free GT box of highest IoU ≥ t (the last
one on ties, as pycocotools does); precision is made monotone from the right and read at 101
recall points; AP is averaged over the GT classes (and over t ∈ .50:.05:.95 for mAP).
Every score is 1.0, so a stable sort keeps list order: a false positive listed first lowers AP.
Not reproduced: COCO ignores boxes whose area exceeds 1e10 (no 0–1000 box does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # the same floats as pycocotools' iouThrs
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
_T50, _T75 = 0, 5


def coco_map(
    iou: Array, pred_labels: Sequence[str], gt_labels: Sequence[str]
) -> tuple[float, float, float]:
    """(AP@[.50:.95], AP50, AP75) of predictions in list order; ``iou`` is (n_pred, n_gt).

    Classes are the GT labels; predictions of other labels are dropped; none left → zeros.
    """
    classes = dict.fromkeys(gt_labels)
    if not any(label in classes for label in pred_labels):
        return 0.0, 0.0, 0.0
    ap = np.empty((len(IOU_THRESHOLDS), len(classes)))
    for k, label in enumerate(classes):
        gts = [j for j, name in enumerate(gt_labels) if name == label]
        dets = [i for i, name in enumerate(pred_labels) if name == label][:MAX_DETS]
        ap[:, k] = class_ap(iou[np.ix_(dets, gts)])
    return float(ap.mean()), float(ap[_T50].mean()), float(ap[_T75].mean())


def class_ap(iou: Array) -> Array:
    """AP at each threshold for one class; ``iou`` is (detections in rank order, GT boxes)."""
    n_det, n_gt = iou.shape
    if n_det == 0:
        return np.zeros(len(IOU_THRESHOLDS))
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    rows = np.arange(len(IOU_THRESHOLDS))
    free = np.ones((len(IOU_THRESHOLDS), n_gt), dtype=bool)
    hit = np.zeros((len(IOU_THRESHOLDS), n_det), dtype=bool)
    for d in range(n_det):
        eligible = free & (iou[d] >= thresholds)
        values = np.where(eligible, iou[d], -1.0)
        best = n_gt - 1 - values[:, ::-1].argmax(axis=1)  # the last maximum
        matched = eligible[rows, best]
        hit[:, d] = matched
        free[rows[matched], best[matched]] = False
    tp = np.cumsum(hit, axis=1, dtype=np.float64)
    fp = np.cumsum(~hit, axis=1, dtype=np.float64)
    recall = tp / n_gt
    precision = tp / (fp + tp + np.spacing(1))
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    # np.searchsorted(recall[t], RECALL_POINTS, "left") for every t at once
    at = (recall[:, :, None] < RECALL_POINTS).sum(axis=1)
    read = np.take_along_axis(precision, np.minimum(at, n_det - 1), axis=1)
    ap: Array = np.where(at < n_det, read, 0.0).mean(axis=1)
    return ap
