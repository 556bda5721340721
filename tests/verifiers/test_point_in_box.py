"""The ``point_in_box`` verifier (MiMo-VL pointing)."""

from __future__ import annotations

from typing import Any

import pytest

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context, NoParams
from reward_service.verifiers.point_in_box import point_in_box, prepare

GT = [0, 0, 100, 100]


def score(response: str, ground_truth: Any = GT) -> float:
    return point_in_box(response, prepare(ground_truth, NoParams()), NoParams(), Context()).accuracy


def test_registered() -> None:
    assert VERIFIERS.get("point_in_box").fn is point_in_box


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("[50, 50]", 1.0),  # inside
        ("(50, 50)", 1.0),  # parentheses
        ("[0, 0]", 1.0),  # corner: bounds inclusive
        ("[100, 100]", 1.0),  # far corner: inclusive
        ("[100.0001, 50]", 0.0),  # just outside
        ("[150, 50]", 0.0),  # outside in x
        ("[50, -1]", 0.0),  # outside in y
        ('{"point_2d": [10, 20]}', 1.0),  # inside a JSON object
        ("<think>[500, 500]</think>\\boxed{[10, 20]}", 1.0),  # the boxed answer
        ("<answer>[10, 20]</answer> [500, 500]", 1.0),  # the answer block
        ("[1e999, 50]", 0.0),  # inf is never inside
        ("[50, 50, 60, 60]", 0.0),  # a box is not a point
        ("fifty, fifty", 0.0),  # no point
    ],
)
def test_scores(response: str, expected: float) -> None:
    assert score(response) == expected


def test_degenerate_ground_truth_box() -> None:
    # a zero-width GT box still contains the points on its line
    assert score("[5, 5]", [5, 0, 5, 10]) == 1.0
    assert score("[6, 5]", [5, 0, 5, 10]) == 0.0


@pytest.mark.parametrize("ground_truth", [[10, 0, 0, 10], [0, 0], "none", None])
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, NoParams())
