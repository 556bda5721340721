"""MiMo-VL pointing reward: 1 when the predicted point lies in the GT box, bounds inclusive.

Response: the first ``[x, y]`` or ``(x, y)`` in the final answer (``_text.locate``: the
``<answer>`` block after the thinking, else the text after the last ``</think>``, else all of it,
none when the thinking is unclosed; its ``\\boxed{}`` if any), so ``{"point_2d": [x, y]}``
works, or a final answer that is nothing but the two numbers (``\\boxed{200, 200}``, as ``iou``
reads ``\\boxed{1,2,3,4}``). Qwen2-VL's numbers are read as given (its 0–1000 grid: give the gold
box on that grid). No point → 0; non-finite coordinates never fall inside.
Ground truth: ``[x1, y1, x2, y2]`` (zero width or height allowed), ``{"bbox_2d": [...]}``, or a
string holding one; anything else → ``invalid_input``.
Params: none.
Formula: 1 if x1 ≤ x ≤ x2 and y1 ≤ y ≤ y2 else 0.
Range: {0, 1}.
Reward hacking: only the first point counts, so listing points does not help; a response
that is a box ``[x1, y1, x2, y2]`` holds no ``[x, y]`` pair and scores 0, and when the first pair
is a corner of a Qwen2-VL box ``(x1,y1),(x2,y2)`` there is no point either (a box whose corner
touches the target is not a point on it); several different
boxed answers are a hedge and score 0.
"""

from __future__ import annotations

import math
from typing import Any

from reward_service.contract.registry import Context, NoParams, Score, verifier
from reward_service.verifiers._boxes import Coords, find_point, ground_truth_box
from reward_service.verifiers._text import missing


def prepare(ground_truth: Any, params: NoParams) -> Coords:
    return ground_truth_box(ground_truth, positive_area=False)


@verifier("point_in_box", prepare=prepare)
def point_in_box(response: str, ground_truth: Any, params: NoParams, context: Context) -> Score:
    """1 when the first predicted point lies inside the GT box (bounds inclusive), else 0."""
    point = find_point(response)
    if point is None:
        return Score(0.0, {"reason": missing(response, "point"), "parsed": False})
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        return Score(0.0, {"reason": "non-finite point", "parsed": False})
    x1, y1, x2, y2 = ground_truth
    inside = x1 <= x <= x2 and y1 <= y <= y2
    return Score(1.0 if inside else 0.0, {"point": point, "parsed": True})
