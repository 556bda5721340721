"""Mixed-R1 IoU reward: IoU of one predicted box with one GT box, optionally thresholded.

Response: the first ``[x1, y1, x2, y2]`` (or ``(…)``) in the final answer
(``_text.locate``: the ``<answer>`` block after the thinking, else the text after the last
``</think>``, else all of it, none when the thinking is unclosed; its ``\\boxed{}`` if any);
JSON ``bbox_2d`` objects, bare lists and ``\\boxed{1,2,3,4}`` all work, and so does Qwen2-VL's
native ``(x1,y1),(x2,y2)`` (optionally in ``<|box_start|>…<|box_end|>``), whose numbers are read
as given: on Qwen2-VL's 0–1000 grid, so the gold must be on that grid too. No box, or an invalid
one (x1 > x2, y1 > y2, non-finite, infinite area) → 0.
Ground truth: ``[x1, y1, x2, y2]`` with positive area, ``{"bbox_2d": [...]}``, or a string
holding one; anything else → ``invalid_input``.
Params: ``threshold`` τ (default none): IoU below τ scores 0; ``"dynamic"``: τ rises with
training progress by ``dynamic_schedule`` as detection's does (``_schedule``: pairs
[r_max, τ] against r = step/total_steps; V-Triune's default 0.85 → 0.95 → 0.99).
Formula: IoU = area(P ∩ G)/area(P ∪ G), plain ratio (no +1 pixel); IoU if IoU ≥ τ else 0.
Details (for the source summary): ``parsed`` (a valid box was found), ``iou``, ``threshold``
(τ in effect, when one is set), and V-Triune's detection monitoring for one box against one
(``reward_service.routing.summary.IOU_REPORT``): at τ' = 0.5, 0.75, 0.95, 0.99, ``iou50`` (the IoU
if ≥ τ' else 0), ``precision50`` = ``recall50`` (1 if IoU ≥ τ' else 0), …; all 0 when no box.
Range: [0, 1].
Reward hacking: only the first box counts; a box covering the image scores area(G)/area(image);
several different boxed answers are a hedge and score 0.
"""

from __future__ import annotations

from typing import Any, Literal

from reward_service.contract.monitoring import IOU_REPORT, IOU_REPORT_KEYS
from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers._boxes import Coords, ground_truth_box, pair_iou, predicted_box
from reward_service.verifiers._schedule import DEFAULT_SCHEDULE, Schedule, Unit, dynamic_tau


class IouParams(Params):
    threshold: Unit | Literal["dynamic"] | None = None
    dynamic_schedule: Schedule = DEFAULT_SCHEDULE


def prepare(ground_truth: Any, params: IouParams) -> Coords:
    return ground_truth_box(ground_truth, positive_area=True)


@verifier("iou", params=IouParams, prepare=prepare)
def iou_reward(response: str, ground_truth: Any, params: IouParams, context: Context) -> Score:
    """IoU of the first predicted box with the GT box (0 below the optional threshold)."""
    tau = params.threshold
    if tau == "dynamic":
        tau = dynamic_tau(params.dynamic_schedule, context)
    shown = {} if tau is None else {"threshold": tau}
    box, reason = predicted_box(response)
    if box is None:
        report = dict.fromkeys(IOU_REPORT_KEYS, 0.0)
        return Score(0.0, {"reason": reason, "parsed": False, **shown, **report})
    value = pair_iou(box, ground_truth)
    passed = tau is None or value >= tau
    details = {"iou": value, "box": box, "parsed": True, **shown, **one_box_report(value)}
    return Score(value if passed else 0.0, details)


def one_box_report(iou: float) -> dict[str, float]:
    """V-Triune's ``report_iou_<τ>_*`` for one predicted box and one GT box: matched at τ when
    IoU ≥ τ, so precision = recall = the hit."""
    report: dict[str, float] = {}
    for tau, tag in IOU_REPORT:
        hit = iou >= tau
        report |= {
            f"iou{tag}": iou if hit else 0.0,
            f"precision{tag}": float(hit),
            f"recall{tag}": float(hit),
        }
    return report
