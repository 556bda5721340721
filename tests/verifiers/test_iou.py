"""The ``iou`` verifier (Mixed-R1)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.verifiers.iou import IouParams, iou_reward, prepare

GT = [0, 0, 100, 100]


def score(response: str, ground_truth: Any = GT, **params: Any) -> float:
    p = IouParams(**params)
    return iou_reward(response, prepare(ground_truth, p), p, Context()).accuracy


def test_registered() -> None:
    assert VERIFIERS.get("iou").fn is iou_reward


@pytest.mark.parametrize(
    ("response", "threshold", "expected"),
    [
        ("[0,0,100,100]", None, 1.0),  # identical
        ("[0,0,100,50]", None, 0.5),  # half
        ("[0,0,100,50]", 0.5, 0.5),  # threshold inclusive
        ("[0,0,100,49]", 0.5, 0.0),  # below the threshold → 0
        ("[50,50,150,150]", None, 2500 / 17500),  # corner overlap
        ("[100,0,200,100]", None, 0.0),  # touching: zero-area intersection
        ("[-1e9,-1e9,1e9,1e9]", None, 1e4 / 4e18),  # a huge box: tiny IoU, not a win
        ('{"bbox_2d": [0,0,100,50]}', None, 0.5),  # JSON object
        ("\\boxed{0, 0, 100, 50}", None, 0.5),  # boxed, no brackets
        ("[100,100,0,0]", None, 0.0),  # reversed → 0
        ("[0,0,1e999,100]", None, 0.0),  # inf → 0
        ("[0,0,100]", None, 0.0),  # too short → 0
        ("", None, 0.0),  # empty → 0
    ],
)
def test_scores(response: str, threshold: float | None, expected: float) -> None:
    assert score(response, threshold=threshold) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_details() -> None:
    p = IouParams(threshold=0.9)
    result = iou_reward("[0,0,100,50]", prepare(GT, p), p, Context())
    assert result.accuracy == 0.0
    report = {"iou50": 0.5, "precision50": 1.0, "recall50": 1.0} | {
        f"{kind}{tag}": 0.0 for tag in ("75", "95", "99") for kind in ("iou", "precision", "recall")
    }  # IoU 0.5 is matched at 0.5 only (V-Triune's ≥)
    assert result.details == {
        "iou": 0.5,
        "box": (0.0, 0.0, 100.0, 50.0),
        "parsed": True,
        "threshold": 0.9,
        **report,
    }
    unparsed = iou_reward("no box", prepare(GT, p), p, Context()).details
    assert (unparsed["parsed"], unparsed["threshold"]) == (False, 0.9)
    assert unparsed["recall50"] == unparsed["precision50"] == unparsed["iou50"] == 0.0


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ("[0,0,100,100]", {"iou99": 1.0, "recall99": 1.0, "precision99": 1.0}),
        ("[0,0,100,80]", {"iou75": 0.8, "recall75": 1.0, "iou95": 0.0, "recall95": 0.0}),
        ("[0,0,100,40]", {"iou50": 0.0, "precision50": 0.0}),
    ],
)
def test_iou_report_for_one_box(box: str, expected: dict[str, float]) -> None:
    p = IouParams()
    details = iou_reward(box, prepare(GT, p), p, Context()).details
    assert {key: details[key] for key in expected} == pytest.approx(expected)


@pytest.mark.parametrize(
    ("step", "total", "tau", "reward"),
    [
        (None, None, 0.85, 0.9),  # no progress: the schedule's first τ
        (10, 100, 0.85, 0.9),
        (20, 100, 0.95, 0.0),  # τ rose past the box's IoU of 0.9
        (99, 100, 0.99, 0.0),
    ],
)
def test_dynamic_threshold(step: int | None, total: int | None, tau: float, reward: float) -> None:
    p = IouParams(threshold="dynamic")
    result = iou_reward("[0,0,100,90]", prepare(GT, p), p, Context(step, total))
    assert result.details["threshold"] == tau
    assert result.accuracy == pytest.approx(reward)


def test_dynamic_schedule_is_checked() -> None:
    with pytest.raises(ValidationError):
        IouParams(threshold="dynamic", dynamic_schedule=((0.5, 0.9), (1.0, 0.5)))
    p = IouParams(threshold="dynamic", dynamic_schedule=((1.0, 0.5),))
    assert iou_reward("[0,0,100,60]", prepare(GT, p), p, Context(5, 10)).accuracy == 0.6


@pytest.mark.parametrize("ground_truth", [[0, 0, 100, 0], [0, 0, 100], "none", None])
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, IouParams())


@pytest.mark.parametrize("threshold", [-0.1, 1.1, float("nan")])
def test_bad_threshold(threshold: float) -> None:
    with pytest.raises(ValidationError):
        IouParams(threshold=threshold)
