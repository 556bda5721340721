"""V-Triune detection reward: greedy-matched IoU with completeness, count penalty, COCO mAP.

Response: ``<answer>[{"bbox_2d": [x1, y1, x2, y2], "label": "dog"}, ...]</answer>``; the answer
block by the rule every verifier shares (``_text.locate``: after the thinking, tags in any case,
none when the thinking is unclosed or several blocks differ; ``vtriune_compat``: V-Triune's first
``<answer>`` anywhere to the next ``</answer>``), stripped and lower-cased, read by V-Triune's
tolerant parser (truncated tail cut at the last complete object, single quotes, duplicate boxes
dropped; items need exactly 4 finite numbers with x1 ≤ x2, y1 ≤ y2 and a string label). Natively
(not ``vtriune_compat``) two forms V-Triune scored 0 are read too: a label holding an apostrophe
in a single-quoted list (``'label': 'person's bag'`` or ``"person's bag"``: V-Triune's quote
swap breaks the JSON; ``_requote``), and, when the block holds no such list, Qwen2-VL's native
grounding output
``<|object_ref_start|>dog<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (or the
same decoded without special tokens, ``dog(x1,y1),(x2,y2)``: the label is the text before the
box), on Qwen2-VL's 0–1000 grid like the ground truth (``normalize_pixels`` does not rescale
it). No answer block or no valid box → 0. More than 1,000 valid boxes → 0
(``too_many_boxes``): bounded time, and the count penalty would leave nothing anyway.
Ground truth: the same ``<answer>…</answer>`` string (or that list without the tags), or a list
of ``{"bbox_2d": [...], "label": str}`` objects, on the 0–1000 grid. No valid box, or more than
1,000 → ``invalid_input`` (a departure: V-Triune scored 0).
Params: ``iou_threshold`` τ (a number in [0, 1], ``"average"`` over {.5, .55, …, .95, .99}, or
``"dynamic"``: τ from ``dynamic_schedule``, pairs [r_max, τ] checked in order against
r = step/total_steps, bounds inclusive, past the last bound its τ; no step → r = 0); term weights
``label_first`` (1), ``iou_first``, ``map``, ``map50``, ``map75`` (0); ``completeness`` c (0.3);
``count_penalty`` (0.6) per missing box; ``extra_box_penalty`` (0.5) per box beyond the GT count,
``null`` for ``count_penalty`` both ways (V-Triune's formula: ``/judge`` and ``routes/orsta.yaml``
set it); ``normalize_pixels`` with ``image_size`` [W, H]: predicted pixels
x ↦ int(x/W·1000), y ↦ int(y/H·1000); ``vtriune_compat`` (false): iou-first with V-Triune's
index bug (below), its first answer block and only V-Triune's reader, for ``/judge`` replay;
``monitor_map`` (false):
compute mAP and mAP50 for the source summary even at weight 0 (about 2.5× the time of a sample).
Details (for the source summary): ``parsed`` (an answer with a valid box), ``threshold`` (the
mean τ in effect), ``iou`` (ΣIoU_matched/Ng of label-first matching, iou-first when only it is
weighted, averaged over τ), ``map``/``map50`` when computed, and V-Triune's monitoring of
label-first matching at IoU 0.5, 0.75, 0.95, 0.99 (``reward_service.routing.summary.IOU_REPORT``):
``iou50`` (ΣIoU_matched/Ng), ``precision50`` (matches/Np), ``recall50`` (matches/Ng), …; all 0
when no box was read.
Formula: score_τ = (1−c)·ΣIoU_matched/Ng + c·(1 − (miss + fa)/2); sp = count_penalty^(Ng−Np)
when Np < Ng, extra_box_penalty^(Np−Ng) when Np > Ng (count_penalty when it is null);
acc = Σ_k w_k·sp·term_k / Σ_k w_k (0 when every weight is 0); mAP terms as in ``_coco_ap``.
Range: [0, 1].
Reward hacking: box spamming is taxed — each box beyond the GT count multiplies the reward by
``extra_box_penalty`` and raises fa, and every false positive ranked above a true one lowers
AP — so many guesses pay less than the right number of good boxes. A hedge pays no more than an
honest guess: listing all c candidates for an object (c labels on one box, jittered so the
duplicate is not dropped, or c locations) adds c − 1 boxes, so the reward is at most
0.5^(c−1) ≤ 1/c times what the right candidate alone earns (no term rises with a false
alarm), and naming one candidate at random earns that with probability ≥ 1/c. V-Triune's
0.6 pays the two-candidate hedge 0.6·0.925 = 0.555 where the honest guess expects 0.5; keep
``extra_box_penalty`` ≤ 0.5. mAP ranks by list order: list sure boxes first.
Departure: iou-first takes the true global maximum; V-Triune's loop records the last pair it
visited instead (its loop variables shadow the argmax), a bug only ``/judge`` reproduces.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.monitoring import IOU_REPORT, IOU_REPORT_KEYS
from reward_service.contract.registry import Context, Params, Score, format_checker, verifier
from reward_service.verifiers._boxes import (
    MAX_BOXES,
    Boxes,
    boxes_from_items,
    iou_matrix,
    parse_box_list,
    parse_corner_boxes,
    valid_box,
)
from reward_service.verifiers._coco_ap import coco_map
from reward_service.verifiers._det_match import (
    iou_first,
    iou_first_vtriune,
    label_first,
    threshold_scores,
)
from reward_service.verifiers._schedule import DEFAULT_SCHEDULE, Schedule, Unit, dynamic_tau
from reward_service.verifiers._text import answer_block, locate, without_vision_tokens

Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Size = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]

AVERAGE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
TERMS = ("label_first", "iou_first", "map", "map50", "map75")


class DetectionParams(Params):
    iou_threshold: Unit | Literal["average", "dynamic"] = "dynamic"
    dynamic_schedule: Schedule = DEFAULT_SCHEDULE
    label_first: Weight = 1.0
    iou_first: Weight = 0.0
    map: Weight = 0.0
    map50: Weight = 0.0
    map75: Weight = 0.0
    completeness: Unit = 0.3
    count_penalty: Unit = 0.6
    extra_box_penalty: Unit | None = 0.5
    normalize_pixels: bool = False
    image_size: tuple[Size, Size] | None = None
    vtriune_compat: bool = False
    monitor_map: bool = False

    @model_validator(mode="after")
    def _size_given(self) -> Self:
        if self.normalize_pixels and self.image_size is None:
            raise ValueError("normalize_pixels needs image_size [W, H]")
        return self


def prepare(ground_truth: Any, params: DetectionParams) -> Boxes:
    """Parse the ground-truth boxes once per group."""
    if isinstance(ground_truth, str):
        block = answer_block(ground_truth)
        text = (ground_truth if block is None else block).lower()
        boxes = parse_box_list(text, vtriune=params.vtriune_compat)
    elif isinstance(ground_truth, list):
        boxes = boxes_from_items(ground_truth)
    else:
        raise InvalidInputError("detection ground truth must be a string or a list of boxes")
    if boxes is None:
        raise InvalidInputError("detection ground truth holds no valid bbox_2d box")
    if len(boxes) > MAX_BOXES:
        raise InvalidInputError(f"detection ground truth has more than {MAX_BOXES} boxes")
    return boxes


def thresholds(params: DetectionParams, context: Context) -> npt.NDArray[np.float64]:
    if params.iou_threshold == "average":
        return np.array(AVERAGE_THRESHOLDS)
    if params.iou_threshold == "dynamic":
        return np.array([dynamic_tau(params.dynamic_schedule, context)])
    return np.array([params.iou_threshold])


def same_label(pred: tuple[str, ...], gt: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """(n_pred, n_gt) label equality, through integer ids rather than n·m string compares."""
    ids = {label: i for i, label in enumerate(dict.fromkeys(gt))}
    pred_ids, gt_ids = [ids.get(label, -1) for label in pred], [ids[label] for label in gt]
    return np.equal.outer(pred_ids, gt_ids)


def response_block(response: str, params: DetectionParams) -> str | None:
    """The answer block read: natively the one rule (``_text.locate``: after the thinking, none
    when several differ or the thinking is unclosed); ``vtriune_compat``, the first anywhere."""
    if params.vtriune_compat:
        return answer_block(response)
    region = locate(response)
    return region.text if region.is_block else None


def read_boxes(text: str, params: DetectionParams) -> tuple[Boxes | None, bool]:
    """The boxes of an answer block, and whether they are on Qwen2-VL's 0–1000 grid already."""
    boxes = parse_box_list(text, vtriune=params.vtriune_compat)
    if boxes is not None or params.vtriune_compat:
        return boxes, False
    corners = parse_corner_boxes(text)
    return corners, corners is not None


def predicted_boxes(response: str, params: DetectionParams) -> Boxes | None:
    block = response_block(response, params)
    boxes, on_grid = (None, False) if block is None else read_boxes(block.lower(), params)
    if boxes is None or params.image_size is None or not params.normalize_pixels or on_grid:
        return boxes
    width, height = params.image_size
    with np.errstate(over="ignore", invalid="ignore"):
        coords = np.trunc(boxes.coords / [width, height, width, height] * 1000.0)
    keep = [i for i, box in enumerate(coords.tolist()) if valid_box(box)]
    return Boxes(coords[keep], tuple(boxes.labels[i] for i in keep)) if keep else None


_REPORT_TAUS = np.array([tau for tau, _ in IOU_REPORT])


def report(
    count: npt.NDArray[np.float64], total: npt.NDArray[np.float64], n_pred: int, n_gt: int
) -> dict[str, float]:
    """V-Triune's ``report_iou_<τ>_label_match_{pure,precision,recall}`` from label-first
    matching's matches and matched IoU at each reported τ."""
    found: dict[str, float] = {}
    for (_, tag), matches, matched_iou in zip(IOU_REPORT, count, total, strict=True):
        found[f"iou{tag}"] = float(matched_iou / n_gt)
        found[f"precision{tag}"] = float(matches / n_pred)
        found[f"recall{tag}"] = float(matches / n_gt)
    return found


def size_penalty(n_pred: int, n_gt: int, params: DetectionParams) -> float:
    """count_penalty per missing box, extra_box_penalty (or count_penalty) per extra one."""
    extra = params.extra_box_penalty
    per_box = params.count_penalty if n_pred < n_gt or extra is None else extra
    return float(per_box ** abs(n_pred - n_gt))


@verifier("detection", params=DetectionParams, prepare=prepare)
def detection(response: str, ground_truth: Any, params: DetectionParams, context: Context) -> Score:
    """V-Triune detection: matched IoU + completeness, count penalty, COCO mAP (list order)."""
    gt: Boxes = ground_truth
    pred = predicted_boxes(response, params)
    taus = thresholds(params, context)
    details: dict[str, Any] = {
        "n_pred": 0 if pred is None else len(pred),
        "n_gt": len(gt),
        "parsed": pred is not None,
        "threshold": float(taus.mean()),
    }
    if pred is None:
        why = None if params.vtriune_compat else locate(response).problem
        details |= dict.fromkeys(IOU_REPORT_KEYS, 0.0)
        return Score(0.0, details | {"reason": why or "no valid box in the answer block"})
    if len(pred) > MAX_BOXES:
        details |= dict.fromkeys(IOU_REPORT_KEYS, 0.0)
        return Score(0.0, details | {"reason": f"too_many_boxes (> {MAX_BOXES})"})
    weights = {name: float(getattr(params, name)) for name in TERMS}
    iou = iou_matrix(pred.coords, gt.coords)
    same = same_label(pred.labels, gt.labels)
    terms: dict[str, float] = {}
    greedy = iou_first_vtriune if params.vtriune_compat else iou_first
    for name, match in (("label_first", label_first), ("iou_first", greedy)):
        # label-first also runs unweighted when neither does, for the mean matched IoU
        if weights[name] > 0 or (name == "label_first" and weights["iou_first"] == 0):
            if name == "label_first":  # the report's thresholds ride along: one pass
                count, total = match(iou, same, np.concatenate([taus, _REPORT_TAUS]))
                details |= report(count[len(taus) :], total[len(taus) :], len(pred), len(gt))
                count, total = count[: len(taus)], total[: len(taus)]
            else:
                count, total = match(iou, same, taus)
            details.setdefault("iou", float((total / len(gt)).mean()))
            if weights[name] > 0:
                scores = threshold_scores(count, total, len(pred), len(gt), params.completeness)
                terms[name] = float(scores.mean())
    if "iou50" not in details:  # label-first did not run (iou-first alone weighted)
        count, total = label_first(iou, same, _REPORT_TAUS)
        details |= report(count, total, len(pred), len(gt))
    if weights["map"] + weights["map50"] + weights["map75"] > 0 or params.monitor_map:
        terms["map"], terms["map50"], terms["map75"] = coco_map(iou, pred.labels, gt.labels)
        details["map"], details["map50"] = terms["map"], terms["map50"]
    penalty = size_penalty(len(pred), len(gt), params)
    weight_sum = sum(weights.values())
    weighted = sum(w * penalty * terms[k] for k, w in weights.items() if w > 0)
    accuracy = min(weighted / weight_sum, 1.0) if weight_sum > 0 else 0.0
    tau = params.iou_threshold if len(taus) > 1 else float(taus[0])
    return Score(accuracy, details | {"tau": tau, "count_penalty": penalty, "terms": terms})


@format_checker("detection_answer")
def detection_answer(response: str) -> float:
    """1 when ``"\\n<answer>\\n"`` occurs, ``"\\n</answer>"`` occurs exactly once (the newlines
    are part of the tags) and the first answer block holds a valid box, read by V-Triune's
    reader; else 0 (V-Triune's, kept exact for ``/judge``: the block may lie in the thinking, and
    an apostrophe in a label or Qwen2-VL's corner boxes fail it, as they did there, while
    ``detection`` natively reads no block in the thinking and does read those)."""
    response = without_vision_tokens(response)
    if "\n<answer>\n" not in response or response.count("\n</answer>") != 1:
        return 0.0
    block = answer_block(response)
    return 0.0 if block is None or parse_box_list(block.lower(), vtriune=True) is None else 1.0
