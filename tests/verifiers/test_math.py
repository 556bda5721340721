"""The ``math`` verifier (Math-Verify 0.9.0), and every reward vector of the text verifiers."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.errors import InvalidInputError
from reward_service.registry import FORMATS, VERIFIERS, Context
from reward_service.verifiers.math_answer import MathParams, math_reward, parse_gold
from tests.conftest import load_vectors

TEXT_VERIFIERS = {"math", "choice", "chart", "counting", "ocr"}


def score(response: str, ground_truth: Any, *, vtriune: bool = False) -> float:
    params = MathParams(vtriune_compat=vtriune)
    return math_reward(response, parse_gold(ground_truth, params), params, Context()).accuracy


def vector_reward(sample: dict[str, Any]) -> float:
    """The combined reward of one vector sample, computed as the router does."""
    spec = VERIFIERS.get(sample["verifier"])
    params = spec.params(**sample.get("params", {}))
    gold = sample["ground_truth"]
    if spec.prepare is not None:
        gold = spec.prepare(gold, params)
    accuracy = spec.fn(sample["response"], gold, params, Context()).accuracy
    weights = {"accuracy": 1.0, "format": 0.0, **sample.get("weights", {})}
    if sample.get("format") is None:
        return accuracy
    fmt = FORMATS.get(sample["format"]).fn(sample["response"])
    total = weights["accuracy"] + weights["format"]
    return (weights["accuracy"] * accuracy + weights["format"] * fmt) / total


@pytest.mark.parametrize(
    "vector",
    [v for v in load_vectors() if v["sample"]["verifier"] in TEXT_VERIFIERS],
    ids=lambda v: v["id"],
)
def test_reward_vectors(vector: dict[str, Any]) -> None:
    # the shared expected values, format and weights included (M18, M20, M21)
    expect = vector["expect"]
    if expect.get("status") == "invalid_input":
        with pytest.raises(InvalidInputError):
            vector_reward(vector["sample"])
    else:
        assert vector_reward(vector["sample"]) == pytest.approx(expect["reward"], abs=1e-5)


def test_vectors_cover_math_and_format() -> None:
    # guards the table above against a vectors file that silently lost its cases
    vectors = [v for v in load_vectors() if v["sample"]["verifier"] in TEXT_VERIFIERS]
    assert sum(v["sample"]["verifier"] == "math" for v in vectors) >= 20
    assert any(v["sample"].get("format") == "think_answer" for v in vectors)


def test_registered() -> None:
    spec = VERIFIERS.get("math")
    assert (spec.fn, spec.prepare, spec.params) == (math_reward, parse_gold, MathParams)


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        # reward hacking: boxes under 10 chars apart merge into a set, matching neither answer
        ("\\boxed{1} \\boxed{2}", "1", 0.0),
        ("\\boxed{1} \\boxed{2}", "2", 0.0),
        ("\\boxed{1} \\boxed{2}", "\\{1, 2\\}", 1.0),  # … but a set answer does match
        ("\\boxed{1}\n\n\\boxed{2}", "2", 0.0),  # a blank line is still "nearby"
        ("\\boxed{1}. wait, actually \\boxed{2}", "2", 0.0),  # a comma within 70 chars merges
        ("\\boxed{1}.\n\nSo finally \\boxed{2}", "2", 1.0),  # 15 chars, no separator: last wins
        ("\\boxed{1}.\n\nSo finally \\boxed{2}", "1", 0.0),  # … and the first is discarded
        ("\\boxed{4} \\boxed{4}", "4", 1.0),  # repeating one answer is not hedging
        ("\\boxed{A} \\boxed{B} \\boxed{C} \\boxed{D}", "B", 0.0),  # option spamming → {a,b,c,d}
        # a box inside the think block counts when nothing after it is boxed (caveat)
        ("<think>\\boxed{4}</think> so 5", "4", 1.0),
        # units: \text{} is dropped, right or wrong (caveat)
        ("\\boxed{5 \\text{ apples}}", "5", 1.0),
        ("\\boxed{4 \\text{ m}}", "4\\text{ cm}", 1.0),
        ("\\boxed{4\\%}", "4", 1.0),  # a percentage matches the bare number …
        ("\\boxed{0.04}", "4\\%", 1.0),  # … and its fraction
        # sets and intervals
        ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}", 1.0),  # sets are unordered
        ("\\boxed{1, 2}", "{1,2}", 1.0),  # a bare list reads as a set
        ("\\boxed{[1,2)}", "[1,2)", 1.0),
        ("\\boxed{(1,2]}", "[1,2)", 0.0),  # open/closed ends matter
        ("\\boxed{x \\in [1, 2)}", "[1,2)", 1.0),  # membership is unwrapped
        ("\\boxed{-\\infty}", "\\infty", 0.0),  # the sign of infinity matters
        # LaTeX fractions, roots, powers, algebra
        ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", 1.0),
        ("\\boxed{0.75}", "\\frac34", 1.0),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}2", 1.0),
        ("\\boxed{x^2+2x+1}", "(x+1)^2", 1.0),  # symbolic equality, not string equality
        ("\\boxed{0.333333}", "\\frac13", 1.0),  # six digits pass (spec)
        # the ground truth is wrapped in $…$ when bare
        ("\\boxed{2\\pi}", "2\\pi", 1.0),
        ("\\boxed{2}", "2\\pi", 0.0),  # unwrapped, 2\pi would truncate to 2
        ("\\boxed{1024}", "2^{10}", 1.0),
        ("\\boxed{b}", "B", 1.0),  # a bare letter is the symbol b, case-folded
        ("\\boxed{\\text{B}}", "B", 1.0),
        # what counts as an answer
        ("The final answer is $5$", "5", 1.0),  # anchored LaTeX
        ("the answer is 5", "5", 0.0),  # anchor without LaTeX: nothing extracted
        ("5", "5", 0.0),  # a bare number → 0 (spec)
        ("<answer>4</answer>", "4", 0.0),  # an answer block is not LaTeX
        ("", "4", 0.0),  # empty response
        ("\\boxed{", "4", 0.0),  # unclosed box
        # ground truth given as a JSON number
        ("\\boxed{4}", 4, 1.0),
        ("\\boxed{\\frac12}", 0.5, 1.0),
        ("\\boxed{100000000000000000000}", 1e20, 1.0),  # written positionally, not 1e+20
        ("\\boxed{0.00001}", 1e-05, 1.0),  # not 1·e − 5
        ("\\boxed{5}", 4, 0.0),
    ],
)
def test_scores(response: str, ground_truth: Any, expected: float) -> None:
    assert score(response, ground_truth) == expected


@pytest.mark.parametrize(
    "ground_truth",
    [
        "no-math-here ???",  # spec: no mathematical object → invalid_input, not 0
        "",  # empty
        "4,",  # a dangling comma parses to nothing in math-verify 0.9.0
        None,
        True,  # a JSON boolean is not the number 1
        [4],
        {"answer": 4},
        float("nan"),
        float("inf"),
    ],
)
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        parse_gold(ground_truth, MathParams())


def test_details_show_both_answers() -> None:
    gold = parse_gold("\\frac{3}{4}", MathParams())
    details = math_reward("so \\boxed{0.75}", gold, MathParams(), Context()).details
    assert details == {"gold": "3/4", "extracted": "0.75"}
    assert math_reward("nothing", gold, MathParams(), Context()).details["extracted"] is None


def test_details_are_truncated() -> None:
    gold = parse_gold("1", MathParams())
    details = math_reward("\\boxed{" + "1+" * 500 + "1}", gold, MathParams(), Context()).details
    assert 0 < len(details["extracted"]) <= 200


def test_huge_response_is_fast() -> None:
    # 64k characters of chatter before the box: extraction stays well under a deadline
    response = "word " * 12_800 + "\\boxed{4}"
    start = time.perf_counter()
    assert score(response, "4") == 1.0
    assert time.perf_counter() - start < 5.0


def test_disabled_timeout_warnings_are_silenced(caplog: pytest.LogCaptureFixture) -> None:
    # math-verify warns on every call when its timeouts are off; the worker logs must stay clean
    with caplog.at_level(logging.WARNING):
        score("\\boxed{4}", "4")
    assert [r for r in caplog.records if r.name.startswith("math_verify")] == []


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        MathParams.model_validate({"timeout": 5})


@pytest.mark.parametrize(
    ("response", "ground_truth", "native", "vtriune"),
    [
        # V-Triune did not wrap the gold: a bare symbol parses to nothing there (vector M10)
        ("\\boxed{B}", "B", 1.0, None),
        ("\\boxed{4}", "4", 1.0, 1.0),  # … but a bare number its expression extractor reads
        # V-Triune took the first LaTeX match of the response, not any match
        ("$3$ and finally \\boxed{4}", "4", 1.0, 1.0),
        # unanchored inline LaTeX counts natively, not in V-Triune's config
        ("so $4$", "4", 1.0, 0.0),
    ],
)
def test_vtriune_compat_parses_as_vtriune_did(
    response: str, ground_truth: str, native: float, vtriune: float | None
) -> None:
    assert score(response, ground_truth) == native
    if vtriune is None:
        with pytest.raises(InvalidInputError):
            score(response, ground_truth, vtriune=True)
    else:
        assert score(response, ground_truth, vtriune=True) == vtriune
