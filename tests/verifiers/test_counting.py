"""The ``counting`` verifier (MiMo-VL: exact integer count)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context, NoParams
from reward_service.verifiers.counting import counting_reward, prepare


def score(response: str, ground_truth: Any = 7) -> float:
    gold = prepare(ground_truth, NoParams())
    return counting_reward(response, gold, NoParams(), Context()).accuracy


def test_registered() -> None:
    spec = VERIFIERS.get("counting")
    assert (spec.fn, spec.prepare, spec.params) == (counting_reward, prepare, NoParams)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<think>\nthere are 7\n</think>\n\\boxed{7}", 1.0),  # vector X15
        ("<think>\nthere are 7\n</think>\n7", 1.0),  # no box: the text after thinking
        ("<think>\nthere are 7\n</think>\n \\boxed{ 7 } \n", 1.0),  # whitespace is stripped
        ("\\boxed{7}", 1.0),  # no think block: the whole text
        ("7", 1.0),
        ("\\boxed{007}", 1.0),  # compared as integers
        ("\\boxed{8}", 0.0),  # off by one is wrong: no tolerance
        ("\\boxed{6} \\boxed{7}", 0.0),  # several different boxed counts are a hedge …
        ("\\boxed{7} \\boxed{6}", 0.0),  # … whichever comes last
        ("\\boxed{7} so \\boxed{7}", 1.0),  # the same count twice is no hedge
        ("<answer>\n7\n</answer>", 1.0),  # the answer block is the answer (shared rule)
        ("<answer>\\boxed{7}</answer> \\boxed{6}", 1.0),  # a box after the block is not read
        ("<|vision_start|><|image_pad|><|vision_end|>\\boxed{7}", 1.0),  # vision tokens dropped
        ("\\boxed{seven}", 0.0),  # spec: words are not counts
        ("\\boxed{7.0}", 0.0),  # exact integers only
        ("7.", 0.0),
        ("\\boxed{7 apples}", 0.0),
        ("There are 7 apples.", 0.0),  # free text is not searched
        ("\\boxed{-7}", 0.0),
        ("\\boxed{٧}", 0.0),  # a non-ASCII digit is not read as 7
        ("", 0.0),  # empty response
        ("<think>\n7\n</think>\n", 0.0),  # nothing after thinking
        # reward hacking: a guess in the (closed) think block is never read
        ("<think>\\boxed{7}</think>\n\\boxed{8}", 0.0),
        ("<think>\\boxed{7}</think>\nI counted them.", 0.0),
        ("<think>a</think>\\boxed{7}<think>b</think>6", 0.0),  # only after the LAST </think>
        ("\\boxed{7, 8}", 0.0),  # hedging in one box
        ("\\boxed{" + "7" * 60_000 + "}", 0.0),  # a 60k-digit answer: 0, not an error
    ],
)
def test_scores(response: str, expected: float) -> None:
    assert score(response) == expected


@pytest.mark.parametrize(
    ("ground_truth", "count"),
    [(7, 7), (0, 0), (7.0, 7), ("7", 7), (" 7 ", 7), ("7.0", 7), ("12", 12)],
)
def test_ground_truth_forms(ground_truth: Any, count: int) -> None:
    # an integer, an integer-valued float or a string of digits
    assert prepare(ground_truth, NoParams()) == count
    assert score(f"\\boxed{{{count}}}", ground_truth) == 1.0


@pytest.mark.parametrize(
    "ground_truth",
    [7.5, "7.5", "seven", "", "-1", -1, True, None, [7], float("nan"), float("inf"), "9" * 60_000],
)
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, NoParams())


def test_huge_response_is_scored() -> None:
    assert score("<think>" + "1 2 3 " * 10_000 + "</think>\\boxed{7}") == 1.0
    assert score("7" * 64_000) == 0.0


def test_details_show_the_answer() -> None:
    details = counting_reward("<think>x</think> \\boxed{8}", 7, NoParams(), Context()).details
    assert details == {"extracted": "8", "parsed": True}
    hedged = counting_reward("\\boxed{7} or \\boxed{8}", 7, NoParams(), Context()).details
    assert hedged == {"reason": "several different boxed answers", "parsed": False}
    words = counting_reward("\\boxed{seven}", 7, NoParams(), Context()).details
    assert words == {"extracted": "seven", "parsed": False}


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        NoParams.model_validate({"tolerance": 1})
