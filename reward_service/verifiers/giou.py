"""MiMo-VL grounding reward: generalised IoU of one predicted box with one GT box.

Response: the first ``[x1, y1, x2, y2]`` (or ``(…)``) in the final answer
(``_text.locate``: the ``<answer>`` block after the thinking, else the text after the last
``</think>``, else all of it, none when the thinking is unclosed; its ``\\boxed{}`` if any);
so a JSON ``[{"bbox_2d": [...], "label": ...}]`` gives its first box, and ``\\boxed{1,2,3,4}``
works too, as does Qwen2-VL's native ``(x1,y1),(x2,y2)`` (optionally in
``<|box_start|>…<|box_end|>``), read as given: on Qwen2-VL's 0–1000 grid, so the gold must be on
that grid too. No box, or an invalid one (x1 > x2,
y1 > y2, non-finite, infinite area) → 0.
Ground truth: ``[x1, y1, x2, y2]`` with positive area, ``{"bbox_2d": [...]}``, or a string
holding one; anything else → ``invalid_input``. Both boxes in the same coordinate system.
Params: ``mapping`` — ``"affine"`` (default): (GIoU + 1)/2; ``"clip"``: max(GIoU, 0).
Formula: GIoU = IoU − (C − U)/C, C the area of the smallest box enclosing both, U the union.
Details: ``giou``, and for the source summary ``parsed`` and the plain ``iou``.
Range: [0, 1]; with ``affine`` a far-away box still earns up to 0.5, less the farther it is.
Reward hacking: only the first box counts, so listing many boxes does not help; a box that
encloses the GT box has no enclosing penalty, so ``affine`` pays even a whole-image box at least
0.5 — use ``clip`` (or ``iou``) where that floor matters. Several different boxed answers are a
hedge and score 0.
"""

from __future__ import annotations

from typing import Any, Literal

from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers._boxes import (
    Coords,
    giou,
    ground_truth_box,
    pair_iou,
    predicted_box,
)


class GiouParams(Params):
    mapping: Literal["affine", "clip"] = "affine"


def prepare(ground_truth: Any, params: GiouParams) -> Coords:
    return ground_truth_box(ground_truth, positive_area=True)


@verifier("giou", params=GiouParams, prepare=prepare)
def giou_reward(response: str, ground_truth: Any, params: GiouParams, context: Context) -> Score:
    """Generalised IoU of the first predicted box with the GT box, mapped to [0, 1]."""
    box, reason = predicted_box(response)
    if box is None:
        return Score(0.0, {"reason": reason, "parsed": False})
    value = giou(box, ground_truth)
    mapped = (value + 1.0) / 2.0 if params.mapping == "affine" else max(value, 0.0)
    details = {"giou": value, "iou": pair_iou(box, ground_truth), "box": box, "parsed": True}
    return Score(min(max(mapped, 0.0), 1.0), details)
