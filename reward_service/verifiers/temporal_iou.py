"""MiMo-VL video grounding reward: temporal IoU of a predicted [start, end] with the GT span.

Response: the first ``[mm:ss, mm:ss]`` in the final answer (``_text.locate``: the ``<answer>``
block after the thinking, else the text after the last ``</think>``, else all of it, none when the
thinking is unclosed; its ``\\boxed{}`` if any): minutes and seconds of 1–2 digits, seconds
below 60, one optional space after the comma. ``[0:12-0:20]``, a reversed span (start > end)
or no match → 0.
Ground truth: ``[start_s, end_s]`` in seconds with start < end, or a ``"[mm:ss, mm:ss]"``
string; anything else → ``invalid_input``.
Params: none.
Formula: inter = max(0, min(e) − max(s)); hull = max(e) − min(s); reward = inter/hull.
The hull, not the union, is the denominator: they differ only for disjoint spans, scored 0.
Range: [0, 1].
Reward hacking: a span covering the whole video scores GT length / video length, and only the
first span counts; several different boxed answers are a hedge and score 0.
"""

from __future__ import annotations

import re
from typing import Any

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, NoParams, Score, verifier
from reward_service.verifiers._boxes import finite_floats
from reward_service.verifiers._text import final_answer, missing

_SPAN = re.compile(r"\[(\d{1,2}):([0-5]?\d), ?(\d{1,2}):([0-5]?\d)\]")


def find_span(text: str) -> tuple[int, int] | None:
    """The first ``[mm:ss, mm:ss]`` in the final answer, in seconds."""
    match = _SPAN.search(final_answer(text) or "")
    if match is None:
        return None
    m1, s1, m2, s2 = (int(group) for group in match.groups())
    return 60 * m1 + s1, 60 * m2 + s2


def prepare(ground_truth: Any, params: NoParams) -> tuple[float, float]:
    span: Any = find_span(ground_truth) if isinstance(ground_truth, str) else ground_truth
    floats = finite_floats(span) if isinstance(span, list | tuple) and len(span) == 2 else None
    if floats is not None and floats[0] < floats[1]:
        return floats[0], floats[1]
    raise InvalidInputError(f"ground truth is not a [start_s, end_s] span: {ground_truth!r:.200}")


@verifier("temporal_iou", prepare=prepare)
def temporal_iou(response: str, ground_truth: Any, params: NoParams, context: Context) -> Score:
    """Temporal IoU (hull denominator) of the first ``[mm:ss, mm:ss]`` with the GT span."""
    span = find_span(response)
    if span is None:
        return Score(0.0, {"reason": missing(response, "[mm:ss, mm:ss] span"), "parsed": False})
    start, end = span
    if start > end:
        return Score(0.0, {"reason": "start after end", "span": span, "parsed": False})
    gt_start, gt_end = ground_truth
    inter = max(0.0, min(end, gt_end) - max(start, gt_start))
    hull = max(end, gt_end) - min(start, gt_start)
    return Score(inter / hull, {"span": span, "iou": inter / hull, "parsed": True})
