"""COCO AP in numpy: hand-computed cases, then agreement with pycocotools on random cases."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_service.verifiers._boxes import iou_matrix
from reward_service.verifiers._coco_ap import coco_map

Box = list[int]
GT = [[0, 0, 100, 100]]


def maps(pred: list[Box], pred_labels: list[str], gt: list[Box], gt_labels: list[str]) -> Any:
    iou = iou_matrix(np.array(pred, float).reshape(-1, 4), np.array(gt, float))
    return coco_map(iou, pred_labels, gt_labels)


@pytest.mark.parametrize(
    ("pred", "pred_labels", "gt", "gt_labels", "expected"),
    [
        # a perfect answer
        (GT, ["a"], GT, ["a"], (1.0, 1.0, 1.0)),
        # the right box listed after a wrong one: precision 1/2 at recall 1
        ([[500, 500, 600, 600], *GT], ["a", "a"], GT, ["a"], (0.5, 0.5, 0.5)),
        # the same boxes, right one first: the miss after it costs nothing
        ([*GT, [500, 500, 600, 600]], ["a", "a"], GT, ["a"], (1.0, 1.0, 1.0)),
        # IoU 0.6 matches at t = .50, .55, .60 (0.6 is exactly linspace's third value)
        ([[0, 0, 100, 60]], ["a"], GT, ["a"], (0.3, 1.0, 0.0)),
        # IoU 0.9 also matches at linspace's 0.8999999999999999: 9 of 10 thresholds
        ([[0, 0, 100, 90]], ["a"], GT, ["a"], (0.9, 1.0, 1.0)),
        # predictions of labels absent from the GT are dropped: nothing left → 0
        (GT, ["bird"], GT, ["a"], (0.0, 0.0, 0.0)),
        # no predictions at all
        ([], [], GT, ["a"], (0.0, 0.0, 0.0)),
        # averaged over GT classes: class a found, class b missed
        (GT, ["a"], [*GT, [200, 200, 300, 300]], ["a", "b"], (0.5, 0.5, 0.5)),
        # a right box with a wrong label is a false positive of its own class
        (GT, ["b"], [*GT, [200, 200, 300, 300]], ["a", "b"], (0.0, 0.0, 0.0)),
        # equal IoU 0.6 with two GT boxes: the first detection takes the *last* (pycocotools),
        # so the second, a copy of that box, finds nothing left at t ≤ .6
        (
            [[25, 0, 125, 100], [50, 0, 150, 100]],
            ["a", "a"],
            [GT[0], [50, 0, 150, 100]],
            ["a", "a"],
            (663 / 2020, 51 / 101, 51 / 202),
        ),
        # one of two GT boxes found: recall stops at 1/2, AP = 51/101
        ([[0, 0, 100, 100]], ["a"], [*GT, [200, 200, 300, 300]], ["a", "a"], (51 / 101,) * 3),
    ],
)
def test_hand_computed(
    pred: list[Box],
    pred_labels: list[str],
    gt: list[Box],
    gt_labels: list[str],
    expected: tuple[float, float, float],
) -> None:
    assert maps(pred, pred_labels, gt, gt_labels) == pytest.approx(expected, abs=1e-12)


def test_only_the_first_100_detections_per_class_count() -> None:
    # maxDets 100: the right box in 101st place is never seen
    misses = [[500, 500, 600, 600]] * 100
    assert maps([*misses, GT[0]], ["a"] * 101, GT, ["a"]) == (0.0, 0.0, 0.0)
    assert maps([*misses[:99], GT[0]], ["a"] * 100, GT, ["a"])[0] > 0


# ---- agreement with pycocotools ---------------------------------------------------------------


def pycocotools_maps(
    pred: list[Box], pred_labels: list[str], gt: list[Box], gt_labels: list[str]
) -> tuple[float, ...]:
    """V-Triune's ``pack_for_map_score``: one image, categories from GT labels, scores 1.0."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    eval_mod = pytest.importorskip("pycocotools.cocoeval")
    cats = {label: i for i, label in enumerate(dict.fromkeys(gt_labels))}

    def xywh(b: Box) -> list[int]:
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    dataset = {
        "images": [{"id": 0}],
        "categories": [{"id": i, "name": name} for name, i in cats.items()],
        "annotations": [
            {
                "id": n + 1,
                "image_id": 0,
                "category_id": cats[label],
                "bbox": xywh(b),
                "area": (b[2] - b[0]) * (b[3] - b[1]),
                "iscrowd": 0,
            }
            for n, (b, label) in enumerate(zip(gt, gt_labels, strict=True))
        ],
    }
    results = [
        {"image_id": 0, "category_id": cats[label], "bbox": xywh(b), "score": 1.0}
        for b, label in zip(pred, pred_labels, strict=True)
        if label in cats
    ]
    if not results:
        return (0.0, 0.0, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt = coco_mod.COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        evaluator = eval_mod.COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return tuple(float(s) for s in evaluator.stats[:3])


# a 20-pixel grid: many overlaps, equal IoUs and duplicate boxes, which stress tie-breaking
coordinate = st.integers(0, 6).map(lambda v: 20 * v)
box = st.tuples(coordinate, coordinate, st.integers(0, 4), st.integers(0, 4)).map(
    lambda t: [t[0], t[1], t[0] + 20 * t[2], t[1] + 20 * t[3]]
)
labelled_gt = st.lists(st.tuples(box, st.sampled_from("abc")), min_size=1, max_size=8)
labelled_pred = st.lists(st.tuples(box, st.sampled_from("abcz")), max_size=14)


@settings(max_examples=150, deadline=None)
@given(gt=labelled_gt, pred=labelled_pred, copies=st.lists(st.integers(0, 7), max_size=4))
def test_agrees_with_pycocotools(
    gt: list[tuple[Box, str]], pred: list[tuple[Box, str]], copies: list[int]
) -> None:
    # some predictions are exact copies of GT boxes, so true positives are common
    pred = pred + [gt[i % len(gt)] for i in copies]
    args = ([b for b, _ in pred], [s for _, s in pred], [b for b, _ in gt], [s for _, s in gt])
    assert maps(*args) == pytest.approx(pycocotools_maps(*args), abs=1e-9)


def test_agrees_with_pycocotools_beyond_max_dets() -> None:
    rng = np.random.default_rng(7)
    corners = rng.integers(0, 500, size=(130, 2))
    sizes = rng.integers(10, 200, size=(130, 2))
    boxes = np.concatenate([corners, corners + sizes], axis=1).tolist()
    gt, pred = boxes[:20], boxes[20:] + boxes[:10]  # 120 detections, 10 right ones last
    labels = ["a"] * len(pred)
    assert maps(pred, labels, gt, ["a"] * 20) == pytest.approx(
        pycocotools_maps(pred, labels, gt, ["a"] * 20), abs=1e-9
    )
