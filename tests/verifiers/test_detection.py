"""The ``detection`` verifier and the ``detection_answer`` format checker (V-Triune).

The reward vectors (tests/vectors/rewards.jsonl) run in test_perception_properties.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import FORMATS, VERIFIERS, Context
from reward_service.verifiers.detection import (
    AVERAGE_THRESHOLDS,
    DetectionParams,
    detection,
    detection_answer,
    dynamic_tau,
    prepare,
)

GT_DOG = "<answer>\n[{'bbox_2d': [0, 0, 100, 100], 'label': 'dog'}]\n</answer>"


def answer(*boxes: tuple[list[float], str]) -> str:
    items = [{"bbox_2d": b, "label": label} for b, label in boxes]
    return f"<think>\nr\n</think>\n<answer>\n{json.dumps(items)}\n</answer>"


def score(
    response: str,
    ground_truth: Any = GT_DOG,
    step: int | None = 1,
    total: int | None = 100,
    **params: Any,
) -> float:
    p = DetectionParams(**params)
    return detection(response, prepare(ground_truth, p), p, Context(step, total)).accuracy


def test_registered() -> None:
    assert VERIFIERS.get("detection").fn is detection
    assert VERIFIERS.get("detection").prepare is prepare
    assert FORMATS.get("detection_answer").fn is detection_answer


class TestParams:
    @pytest.mark.parametrize(
        "params",
        [
            {},  # all defaults
            {"iou_threshold": 0.0},  # bounds of a numeric threshold
            {"iou_threshold": 1.0},
            {"iou_threshold": "average"},
            {"dynamic_schedule": [[0.5, 0.5], [0.9, 0.9]]},  # an overridden schedule
            {"dynamic_schedule": [[0.5, 0.7]]},  # one pair: a constant threshold
            {"normalize_pixels": True, "image_size": [640, 480]},
            {"map": 2.5},  # weights are relative, any finite non-negative value
        ],
    )
    def test_valid(self, params: dict[str, Any]) -> None:
        DetectionParams(**params)

    @pytest.mark.parametrize(
        "params",
        [
            {"iou_threshold": 1.5},  # above 1
            {"iou_threshold": -0.1},  # below 0
            {"iou_threshold": "median"},  # unknown mode
            {"dynamic_schedule": []},  # empty schedule
            {"dynamic_schedule": [[0.5, 0.9], [0.5, 0.95]]},  # bounds not rising
            {"dynamic_schedule": [[0.1, 0.95], [1.0, 0.85]]},  # τ falling
            {"dynamic_schedule": [[0.1, 1.2]]},  # τ above 1
            {"dynamic_schedule": [[0.1]]},  # not a pair
            {"normalize_pixels": True},  # no image_size
            {"normalize_pixels": True, "image_size": [0, 480]},  # zero width
            {"label_first": -1.0},  # negative weight
            {"map": float("inf")},  # infinite weight
            {"completeness": 1.1},  # above 1
            {"count_penalty": float("nan")},  # NaN
            {"det_reward_ratio": {}},  # V-Triune's names belong to /judge, not here
        ],
    )
    def test_invalid(self, params: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            DetectionParams(**params)


DEFAULT_SCHEDULE = DetectionParams().dynamic_schedule


@pytest.mark.parametrize(
    ("step", "total", "tau"),
    [
        (None, None, 0.85),  # no step: r = 0
        (0, 100, 0.85),
        (10, 100, 0.85),  # r = 0.10: bounds are inclusive
        (11, 100, 0.95),
        (25, 100, 0.95),  # r = 0.25, inclusive
        (26, 100, 0.99),
        (100, 100, 0.99),
        (500, 100, 0.99),  # past the last bound: its τ
        (5, None, 0.85),  # no total_steps: r = 0
        (5, 0, 0.85),  # total_steps 0: r = 0, no ZeroDivisionError
    ],
)
def test_dynamic_tau(step: int | None, total: int | None, tau: float) -> None:
    assert dynamic_tau(DEFAULT_SCHEDULE, Context(step, total)) == tau


def test_dynamic_schedule_override() -> None:
    # a two-stage curriculum: 0.5 for the first half, then 0.75
    schedule = ((0.5, 0.5), (1.0, 0.75))
    assert dynamic_tau(schedule, Context(50, 100)) == 0.5
    assert dynamic_tau(schedule, Context(51, 100)) == 0.75
    # and it drives the verifier: IoU 0.6 passes at step 10, fails at step 90
    pred = answer(([0, 0, 100, 60], "dog"))
    assert score(pred, step=10, dynamic_schedule=schedule) == pytest.approx(0.7 * 0.6 + 0.3)
    assert score(pred, step=90, dynamic_schedule=schedule) == 0.0


class TestGroundTruth:
    @pytest.mark.parametrize(
        "ground_truth",
        [
            GT_DOG,  # the V-Triune answer string
            "[{'bbox_2d': [0, 0, 100, 100], 'label': 'dog'}]",  # without the tags
            [{"bbox_2d": [0, 0, 100, 100], "label": "Dog"}],  # a list; labels lower-cased
            [{"bbox_2d": [0, 0, 100, 100], "label": "dog"}, {"bbox_2d": [1, 2], "label": "x"}],
        ],
    )
    def test_accepted(self, ground_truth: Any) -> None:
        boxes = prepare(ground_truth, DetectionParams())
        assert boxes.coords.tolist() == [[0, 0, 100, 100]]
        assert boxes.labels == ("dog",)

    @pytest.mark.parametrize(
        "ground_truth",
        [
            "<answer>\n[]\n</answer>",  # no box: invalid_input, not V-Triune's 0
            "<answer>\nno boxes\n</answer>",
            [{"bbox_2d": [0, 0, 1], "label": "x"}],  # only invalid items
            [],
            {"bbox_2d": [0, 0, 1, 1], "label": "x"},  # one object, not a list
            42,
            None,
            [{"bbox_2d": [i, i, i + 1, i + 1], "label": "x"} for i in range(1001)],  # too many
        ],
    )
    def test_rejected(self, ground_truth: Any) -> None:
        with pytest.raises(InvalidInputError):
            prepare(ground_truth, DetectionParams())


# IoU matrix (rows predictions, columns GT) for the two boxes below:
#   P0 = [12,18,22,28], P1 = [10,14,30,34]; G0 = [8,16,28,36], G1 = [0,12,20,22]
#   P0: G0 100/400, G1 32/268     P1: G0 324/476, G1 80/520
P0, P1, G0, G1 = [12, 18, 22, 28], [10, 14, 30, 34], [8, 16, 28, 36], [0, 12, 20, 22]
CROSS_PRED = answer((P0, "a"), (P1, "a"))
CROSS_GT = [{"bbox_2d": G0, "label": "a"}, {"bbox_2d": G1, "label": "a"}]


def full_match(iou_sum: float) -> float:
    # 2 predictions, 2 GT boxes, both matched: completeness 1
    return 0.7 * iou_sum / 2 + 0.3


@pytest.mark.parametrize(
    ("response", "ground_truth", "params", "expected"),
    [
        # extra-box penalty 0.5^2: one right box among three; fa = 2/3
        (
            answer(([0, 0, 100, 100], "dog"), ([300, 300, 400, 400], "dog"), ([5, 5, 9, 9], "x")),
            GT_DOG,
            {},
            (0.7 + 0.3 * (1 - (2 / 3) / 2)) * 0.25,
        ),
        # V-Triune's formula (extra_box_penalty null): count_penalty 0.6^2 both ways
        (
            answer(([0, 0, 100, 100], "dog"), ([300, 300, 400, 400], "dog"), ([5, 5, 9, 9], "x")),
            GT_DOG,
            {"extra_box_penalty": None},
            (0.7 + 0.3 * (1 - (2 / 3) / 2)) * 0.36,
        ),
        # count_penalty 1 with extra_box_penalty null switches the penalty off
        (
            answer(([0, 0, 100, 100], "dog"), ([300, 300, 400, 400], "dog"), ([5, 5, 9, 9], "x")),
            GT_DOG,
            {"count_penalty": 1.0, "extra_box_penalty": None},
            0.7 + 0.3 * (1 - (2 / 3) / 2),
        ),
        # a missing box costs count_penalty (0.6), whatever extra_box_penalty is
        (
            answer(([0, 0, 100, 100], "dog")),
            [
                {"bbox_2d": [0, 0, 100, 100], "label": "dog"},
                {"bbox_2d": [500, 500, 600, 600], "label": "dog"},
            ],
            {"extra_box_penalty": 0.1},
            (0.7 * 0.5 + 0.3 * (1 - 0.5 / 2)) * 0.6,
        ),
        # "average": IoU 0.86 passes 8 of the 11 thresholds (.50 … .85)
        (answer(([0, 0, 100, 86], "dog")), GT_DOG, {"iou_threshold": "average"}, 8 * 0.902 / 11),
        # τ = 0: a disjoint box of the right label is a match of IoU 0 (completeness credit)
        (answer(([500, 500, 600, 600], "dog")), GT_DOG, {"iou_threshold": 0.0}, 0.3),
        # label-first follows GT order: G0 takes P1 first, then G1 gets P0
        (CROSS_PRED, CROSS_GT, {"iou_threshold": 0.1}, full_match(324 / 476 + 32 / 268)),
        # ... and with the GT reversed G1 takes P1 first: a different score (see properties)
        (CROSS_PRED, CROSS_GT[::-1], {"iou_threshold": 0.1}, full_match(80 / 520 + 100 / 400)),
        # iou-first takes the global maximum (P1, G0) first, then (P0, G1); V-Triune's code
        # records its last-visited pair instead and would give full_match(324/476 + 100/400)
        (
            CROSS_PRED,
            CROSS_GT,
            {"iou_threshold": 0.1, "label_first": 0.0, "iou_first": 1.0},
            full_match(324 / 476 + 32 / 268),
        ),
        # iou-first ignores GT order
        (
            CROSS_PRED,
            CROSS_GT[::-1],
            {"iou_threshold": 0.1, "label_first": 0.0, "iou_first": 1.0},
            full_match(324 / 476 + 32 / 268),
        ),
        # iou-first: a label mismatch scores 0 IoU but uses up both boxes (completeness 1)
        (answer(([0, 0, 100, 100], "cat")), GT_DOG, {"label_first": 0.0, "iou_first": 1.0}, 0.3),
        # mAP ranks by list order: a false positive first halves AP; 0.6^1 count penalty
        (
            answer(([500, 500, 600, 600], "dog"), ([0, 0, 100, 100], "dog")),
            GT_DOG,
            {"label_first": 0.0, "map": 1.0},
            0.5 * 0.5,
        ),
        (
            answer(([0, 0, 100, 100], "dog"), ([500, 500, 600, 600], "dog")),
            GT_DOG,
            {"label_first": 0.0, "map": 1.0},
            1.0 * 0.5,
        ),
        # IoU 0.6: mAP50 1, mAP75 0, mAP 0.3; weighted mean of the three
        (
            answer(([0, 0, 100, 60], "dog")),
            GT_DOG,
            {"label_first": 0.0, "map": 1.0, "map50": 2.0, "map75": 1.0},
            (0.3 + 2.0 + 0.0) / 4,
        ),
        # mixed terms: (1·label_first + 1·map50) / 2
        (
            answer(([0, 0, 100, 60], "dog")),
            GT_DOG,
            {"iou_threshold": 0.5, "map50": 1.0},
            (0.7 * 0.6 + 0.3 + 1.0) / 2,
        ),
        # completeness 0: only matched IoU counts
        (answer(([0, 0, 100, 90], "dog")), GT_DOG, {"completeness": 0.0}, 0.9),
        # completeness 1: only counts matter
        (answer(([0, 0, 100, 90], "dog")), GT_DOG, {"completeness": 1.0}, 1.0),
        # pixels → 0–1000 by truncation: 2/3·1000 = 666.67 → 666 (rounding would give 667)
        (
            answer(([0, 0, 2, 2], "dog")),
            [{"bbox_2d": [0, 0, 666, 666], "label": "dog"}],
            {"normalize_pixels": True, "image_size": [3, 3]},
            1.0,
        ),
        # image_size alone does not normalise
        (answer(([0, 0, 100, 100], "dog")), GT_DOG, {"image_size": [3, 3]}, 1.0),
        # V-Triune (vtriune_compat): the first answer block is the answer, even in the thinking
        (
            "<answer>\n[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]\n</answer>"
            "<answer>\n[{'bbox_2d': [0,0,1,1], 'label': 'dog'}]\n</answer>",
            GT_DOG,
            {"vtriune_compat": True},
            1.0,
        ),
        (
            "<think><answer>\n[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]\n</answer></think>"
            "\nno objects",
            GT_DOG,
            {"vtriune_compat": True},
            1.0,
        ),
        # natively: the block after the thinking, in any case, tokens removed
        (
            "<think><answer>[]</answer></think>\n<ANSWER>\n"
            "[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]\n</Answer><|im_end|>",
            GT_DOG,
            {},
            1.0,
        ),
    ],
)
def test_scores(response: str, ground_truth: Any, params: dict[str, Any], expected: float) -> None:
    assert score(response, ground_truth, **params) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        # no answer block
        ("[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]", "no valid box"),
        # unclosed answer block
        ("<answer>\n[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]", "no valid box"),
        # NaN literal (lower-cased to nan, which JSON rejects)
        ("<answer>\n[{'bbox_2d': [0,0,NaN,100], 'label': 'dog'}]\n</answer>", "no valid box"),
        # Infinity literal
        ("<answer>\n[{'bbox_2d': [0,0,Infinity,100], 'label': 'dog'}]\n</answer>", "no valid box"),
        # a number that overflows to inf
        ("<answer>\n[{'bbox_2d': [0,0,1e999,100], 'label': 'dog'}]\n</answer>", "no valid box"),
        # an area that overflows float64
        ("<answer>\n[{'bbox_2d': [0,0,1e308,1e308], 'label': 'dog'}]\n</answer>", "no valid box"),
        # deeply nested JSON
        ("<answer>\n" + "[" * 50_000 + "]" * 50_000 + "\n</answer>", "no valid box"),
        # a fenced block (V-Triune: the fence breaks the parse)
        ('<answer>\n```json\n[{"bbox_2d": [0,0,100,100], "label": "dog"}]\n```\n</answer>', "no"),
        # natively, two different answer blocks are a hedge (V-Triune reads the first)
        (
            "<answer>\n[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]\n</answer>"
            "<answer>\n[{'bbox_2d': [0,0,1,1], 'label': 'dog'}]\n</answer>",
            "several different",
        ),
        # a list in the thinking, "no objects" after it
        (
            "<think>\n<answer>[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]</answer>\n</think>\n"
            "There are no objects.",
            "no valid box",
        ),
        # cut off while thinking
        ("<think>\n<answer>[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]</answer>", "truncated"),
        # 1,001 distinct boxes
        (answer(*[([i, i, i + 5, i + 5], "dog") for i in range(1001)]), "too_many_boxes"),
    ],
)
def test_zero_with_reason(response: str, reason: str) -> None:
    p = DetectionParams()
    result = detection(response, prepare(GT_DOG, p), p, Context(1, 100))
    assert result.accuracy == 0.0
    assert reason in result.details["reason"]


def test_normalisation_overflow_drops_the_box() -> None:
    # 1e308 / 1e-10 · 1000 overflows: the box is dropped, not turned into inf or NaN
    p = DetectionParams(normalize_pixels=True, image_size=(1e-10, 1.0))
    pred = answer(([0, 0, 1e308, 1], "dog"))
    result = detection(pred, prepare(GT_DOG, p), p, Context())
    assert result.accuracy == 0.0
    assert "no valid box" in result.details["reason"]


def test_a_thousand_boxes_are_scored() -> None:
    # exactly at the cap: scored (not refused), and the count penalty crushes it
    pred = answer(([0, 0, 100, 100], "dog"), *[([i, i, i + 5, i + 5], "x") for i in range(999)])
    p = DetectionParams()
    result = detection(pred, prepare(GT_DOG, p), p, Context())
    assert "reason" not in result.details
    assert result.details["n_pred"] == 1000
    assert 0.0 < result.accuracy < 1e-200


def test_details() -> None:
    p = DetectionParams(iou_first=1.0, map=1.0)
    result = detection(answer(([0, 0, 100, 86], "dog")), prepare(GT_DOG, p), p, Context(1, 100))
    assert result.details["tau"] == 0.85
    assert result.details["n_pred"] == result.details["n_gt"] == 1
    assert result.details["count_penalty"] == 1.0
    assert result.details["terms"] == pytest.approx(
        {"label_first": 0.902, "iou_first": 0.902, "map": 0.8, "map50": 1.0, "map75": 1.0}
    )
    # for the source summary: parsed, the threshold in effect, the matched IoU, mAP and mAP50
    assert result.details["parsed"] is True
    assert result.details["threshold"] == 0.85
    assert result.details["iou"] == pytest.approx(0.86)
    assert (result.details["map"], result.details["map50"]) == pytest.approx((0.8, 1.0))
    json.dumps(result.details)  # details travel as JSON
    average = DetectionParams(iou_threshold="average")
    averaged = detection(GT_DOG, prepare(GT_DOG, average), average, Context()).details
    assert averaged["tau"] == "average"
    assert averaged["threshold"] == pytest.approx(sum(AVERAGE_THRESHOLDS) / 11)
    assert "map" not in averaged  # neither weighted nor monitored


@pytest.mark.parametrize(
    ("params", "response", "expected"),
    [
        ({}, GT_DOG, {"parsed": True, "iou": 1.0, "threshold": 0.85}),
        ({}, "no boxes here", {"parsed": False, "threshold": 0.85}),
        ({"iou_first": 1.0, "label_first": 0.0}, GT_DOG, {"parsed": True, "iou": 1.0}),
        ({"label_first": 0.0, "map": 1.0}, GT_DOG, {"iou": 1.0, "map": 1.0, "map50": 1.0}),
        ({"monitor_map": True}, GT_DOG, {"iou": 1.0, "map": 1.0, "map50": 1.0}),
        ({"iou_threshold": 0.5}, GT_DOG, {"threshold": 0.5}),
    ],
)
def test_monitoring_details(
    params: dict[str, Any], response: str, expected: dict[str, Any]
) -> None:
    p = DetectionParams(**params)
    details = detection(response, prepare(GT_DOG, p), p, Context()).details
    assert {key: details.get(key) for key in expected} == pytest.approx(expected)


THINK = "<think>\nreasoning\n</think>\n"
BOX = "[{'bbox_2d': [0,0,100,100], 'label': 'dog'}]"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (f"{THINK}<answer>\n{BOX}\n</answer>", 1.0),  # the V-Triune layout
        (f"\n<answer>\n{BOX}\n</answer>", 1.0),  # thinking is not required
        (f"<answer>\n{BOX}\n</answer>", 0.0),  # but the newline before <answer> is
        (f"{THINK}<answer>{BOX}</answer>", 0.0),  # tags without their newlines
        (f"{THINK}<answer>\n{BOX}\n</answer>\n</answer>", 0.0),  # "\n</answer>" twice
        (f"{THINK}<answer>\n[]\n</answer>", 0.0),  # no box
        (f"{THINK}<answer>\n[{{'bbox_2d': [9,0,1,1], 'label': 'x'}}]\n</answer>", 0.0),  # invalid
        (f"{THINK}<answer>\n```json\n{BOX}\n```\n</answer>", 0.0),  # fenced
        # a truncated list is repaired: its complete box counts
        (
            f"{THINK}<answer>\n[{{'bbox_2d': [0,0,1,1], 'label': 'x'}}, {{'bbox_2d': [2\n</answer>",
            1.0,
        ),
        (BOX, 0.0),  # no tags at all
    ],
)
def test_format_checker(response: str, expected: float) -> None:
    assert detection_answer(response) == expected


QWEN = "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(0,0),(100,100)<|box_end|>"


@pytest.mark.parametrize(
    ("response", "params", "expected"),
    [
        # Qwen2-VL's corner boxes are read natively …
        (f"<answer>{QWEN}</answer>", {}, 1.0),
        ("<answer>Dog (0, 0), (100, 100)</answer>", {}, 1.0),  # decoded without its tokens
        # … on its 0–1000 grid already: normalize_pixels does not rescale them
        (f"<answer>{QWEN}</answer>", {"normalize_pixels": True, "image_size": [50, 50]}, 1.0),
        # … but not by V-Triune's reader (/judge)
        (f"<answer>{QWEN}</answer>", {"vtriune_compat": True}, 0.0),
        # the label is the reference's text: "the dog" is not "dog"
        ("<answer>the dog (0,0),(100,100)</answer>", {}, 0.0),
    ],
)
def test_native_readers(response: str, params: dict[str, Any], expected: float) -> None:
    assert score(response, **params) == pytest.approx(expected)


def test_an_apostrophe_label_natively_and_in_judge() -> None:
    gold = [{"bbox_2d": [0, 0, 100, 100], "label": "person's bag"}]
    response = "<answer>[{'bbox_2d': [0,0,100,100], 'label': 'person's bag'}]</answer>"
    assert score(response, gold) == 1.0
    assert score(response, gold, vtriune_compat=True) == 0.0


VTRIUNE_REPORT = json.loads(
    (Path(__file__).parent / "vtriune_iou_report.json").read_text(encoding="utf-8")
)  # V-Triune's own outputs: devtools/vtriune_iou_report.py


@pytest.mark.parametrize("case", VTRIUNE_REPORT, ids=range(len(VTRIUNE_REPORT)))
def test_iou_report_as_vtriune_computes_it(case: dict[str, Any]) -> None:
    """Label-first matched IoU, precision and recall at 0.5/0.75/0.95/0.99 in the details, as
    V-Triune's ``report_iou_*_label_match_*`` on the same answers (0 when none parses)."""
    p = DetectionParams()
    details = detection(case["response"], prepare(case["solution"], p), p, Context()).details
    assert {key: details[key] for key in case["report"]} == pytest.approx(case["report"])


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        # one exact box of two GT: matched IoU per GT box 0.5, precision 1, recall 0.5
        ([([0, 0, 100, 100], "dog")], {"iou99": 0.5, "precision99": 1.0, "recall99": 0.5}),
        # IoU 0.8 (a box 80 wide): matched at 0.5 and 0.75, not at 0.95
        ([([0, 0, 80, 100], "dog")], {"iou75": 0.4, "recall75": 0.5, "precision95": 0.0}),
        # a right box with the wrong label matches nothing (label-first)
        ([([0, 0, 100, 100], "cat")], {"iou50": 0.0, "precision50": 0.0, "recall50": 0.0}),
        # a stray beside the exact box halves precision
        (
            [([0, 0, 100, 100], "dog"), ([500, 500, 600, 600], "dog")],
            {"precision50": 0.5, "recall50": 0.5},
        ),
        ([], {"iou50": 0.0, "precision50": 0.0, "recall99": 0.0}),  # no box read
    ],
)
def test_iou_report_details(
    boxes: list[tuple[list[float], str]], expected: dict[str, float]
) -> None:
    gt = [
        {"bbox_2d": [0, 0, 100, 100], "label": "dog"},
        {"bbox_2d": [200, 200, 300, 300], "label": "bird"},
    ]
    p = DetectionParams()
    response = answer(*boxes) if boxes else "no boxes"
    details = detection(response, prepare(gt, p), p, Context()).details
    assert {key: details[key] for key in expected} == pytest.approx(expected)


@pytest.mark.parametrize(
    "params",
    [{"iou_first": 1.0, "label_first": 0.0}, {"iou_threshold": "average", "map": 1.0}],
)
def test_iou_report_whatever_the_terms(params: dict[str, Any]) -> None:
    """The report is label-first's at its own thresholds, whichever terms score the sample."""
    p = DetectionParams(**params)
    for case in VTRIUNE_REPORT[:30]:
        details = detection(case["response"], prepare(case["solution"], p), p, Context()).details
        assert {key: details[key] for key in case["report"]} == pytest.approx(case["report"])
