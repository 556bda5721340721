"""The ``giou`` verifier (MiMo-VL grounding)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.verifiers.giou import GiouParams, giou_reward, prepare

GT = [0, 0, 10, 10]


def score(response: str, ground_truth: Any = GT, **params: Any) -> float:
    p = GiouParams(**params)
    return giou_reward(response, prepare(ground_truth, p), p, Context()).accuracy


def test_registered() -> None:
    assert VERIFIERS.get("giou").fn is giou_reward


@pytest.mark.parametrize(
    ("response", "mapping", "expected"),
    [
        ("[0, 0, 10, 10]", "affine", 1.0),  # identical: GIoU 1
        ("[0, 0, 10, 5]", "affine", 0.75),  # GIoU 0.5 → (0.5 + 1)/2
        ("[0, 0, 10, 5]", "clip", 0.5),  # clip keeps a positive GIoU
        ("[20, 0, 30, 10]", "affine", 1 / 3),  # disjoint: GIoU −1/3 → 1/3
        ("[20, 0, 30, 10]", "clip", 0.0),  # clip: negative → 0
        ("[10, 0, 20, 10]", "affine", 0.5),  # touching: IoU 0, hull = union → GIoU 0
        ("[1000, 1000, 1010, 1010]", "affine", (1 - 1 + 200 / 1010**2) / 2),  # far: towards 0
        ("[-5, -5, 15, 15]", "affine", (0.25 + 1) / 2),  # enclosing box: no hull penalty
        ('[{"bbox_2d": [0, 0, 10, 5], "label": "x"}]', "affine", 0.75),  # JSON object
        ("<think>[9,9,9,9]</think>\\boxed{[0, 0, 10, 5]}", "affine", 0.75),  # boxed
        ("<answer>(0, 0, 10, 5)</answer>", "affine", 0.75),  # tuple in an answer block
        ("[10, 0, 0, 10]", "affine", 0.0),  # reversed corners: invalid → 0
        ("[0, 0, 1e999, 10]", "affine", 0.0),  # overflows to inf → 0
        ("[0, 0, 1e308, 1e308]", "affine", 0.0),  # infinite area → 0
        ("[0, 0, 10]", "affine", 0.0),  # three numbers → 0
        ("no box", "affine", 0.0),  # nothing → 0 (affine does not pay 0.5 for silence)
    ],
)
def test_scores(response: str, mapping: str, expected: float) -> None:
    assert score(response, mapping=mapping) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "ground_truth",
    [[0, 0, 0, 10], [10, 0, 0, 10], [0, 0, 10], "nothing", {"x": 1}, [0, 0, float("inf"), 1]],
)
def test_bad_ground_truth(ground_truth: Any) -> None:
    # zero-area, reversed, short, unparsable or non-finite GT → invalid_input
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, GiouParams())


def test_ground_truth_forms() -> None:
    # a JSON object or a string holding a box are read like the list
    assert score("[0, 0, 10, 5]", {"bbox_2d": GT}) == score("[0, 0, 10, 5]", "[0, 0, 10, 10]")


def test_unknown_mapping() -> None:
    with pytest.raises(ValidationError):
        GiouParams(mapping="sigmoid")  # type: ignore[arg-type]
