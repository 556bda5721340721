"""The ``temporal_iou`` verifier (MiMo-VL video grounding)."""

from __future__ import annotations

from typing import Any

import pytest

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context, NoParams
from reward_service.verifiers.temporal_iou import find_span, prepare, temporal_iou


def score(response: str, ground_truth: Any = (12, 20)) -> float:
    gt = prepare(ground_truth, NoParams())
    return temporal_iou(response, gt, NoParams(), Context()).accuracy


def test_registered() -> None:
    assert VERIFIERS.get("temporal_iou").fn is temporal_iou


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("[00:12, 00:20]", (12, 20)),  # the MiMo-VL form
        ("[00:12,00:20]", (12, 20)),  # the space is optional
        ("[1:05, 01:10]", (65, 70)),  # one-digit minutes
        ("[0:5, 0:9]", (5, 9)),  # one-digit seconds
        ("[99:59, 99:59]", (5999, 5999)),  # the largest
        ("\\boxed{[00:12, 00:20]}", (12, 20)),  # boxed
        ("<think>[00:01, 00:02]</think> [00:12, 00:20]", (12, 20)),  # after thinking
        ("<answer>[00:12, 00:20]</answer> [00:01, 00:02]", (12, 20)),  # the answer block
        ("[00:20, 00:12]", (20, 12)),  # reversed spans are found (and scored 0)
        ("[0:12-0:20]", None),  # a dash is not the separator
        ("[00:12,  00:20]", None),  # two spaces
        ("[00:75, 01:20]", None),  # 75 seconds is not a clock time
        ("[100:00, 101:00]", None),  # three-digit minutes
        ("[12, 20]", None),  # plain seconds
        ("", None),
    ],
)
def test_find_span(response: str, expected: tuple[int, int] | None) -> None:
    assert find_span(response) == expected


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("\\boxed{[00:12, 00:20]}", (12, 20), 1.0),  # exact
        ("\\boxed{[00:10, 00:20]}", (12, 20), 0.8),  # inter 8 / hull 10
        ("\\boxed{[01:05, 01:10]}", (60, 70), 0.5),  # inside: inter 5 / hull 10
        ("[00:00, 00:30]", (12, 20), 8 / 30),  # covering: GT length / span length
        ("\\boxed{[00:00, 00:05]}", (10, 20), 0.0),  # disjoint
        ("[00:00, 00:10]", (10, 20), 0.0),  # touching
        ("[00:15, 00:15]", (10, 20), 0.0),  # zero-length span: no overlap
        ("\\boxed{[00:20, 00:12]}", (12, 20), 0.0),  # reversed → 0
        ("[0:12-0:20]", (12, 20), 0.0),  # unparsable → 0
        ("[00:12, 00:20]", (12.5, 19.5), 7 / 8),  # fractional GT seconds
        ("[00:12, 00:20]", "[00:12, 00:20]", 1.0),  # GT as a string
    ],
)
def test_scores(response: str, ground_truth: Any, expected: float) -> None:
    assert score(response, ground_truth) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "ground_truth",
    [
        [20, 12],  # reversed
        [12, 12],  # zero length
        [12],  # one number
        [12, 20, 30],  # three numbers
        [12, float("nan")],  # NaN
        [0, 10**400],  # beyond float range
        [True, 5],  # a bool
        "12 to 20",  # unparsable string
        None,
    ],
)
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, NoParams())
