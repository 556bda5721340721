"""``math`` (strict) reading answers as models write them: an approximation whose sides agree, a
number stated in prose after a "Final Answer:" anchor, a trailing backslash, a currency amount.
Each accepted row has the hack beside it that must still score 0 (issue 23)."""

from __future__ import annotations

import pytest

from reward_service.verifiers import _math_relations as mr
from tests.verifiers.test_math import score, verdict

# --- approximations: the exact side equals the gold, or the rounded side a rounded gold; the
# two sides always agree (the exact value rounds to the digits the approximation writes)


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        # the exact side is the gold; the approximation is its rounding
        ("\\boxed{\\frac{\\sqrt{3}}{3} \\approx 0.577}", "\\frac{\\sqrt{3}}{3}", 1.0),
        ("\\boxed{\\frac{1}{2} \\approx 0.9}", "\\frac{1}{2}", 0.0),  # hack: a second value
        ("\\boxed{x = \\frac{1}{3} \\approx 0.333}", "\\frac{1}{3}", 1.0),
        ("\\boxed{x = \\frac{1}{3} \\approx 0.3}", "\\frac{1}{3}", 1.0),  # coarse, but rounded
        ("\\boxed{x = \\frac{1}{3} \\approx 0.4}", "\\frac{1}{3}", 0.0),  # hack: not its rounding
        ("\\boxed{\\pi \\approx 3.14}", "\\pi", 1.0),
        ("\\boxed{\\pi \\approx 3.15}", "\\pi", 0.0),
        ("\\boxed{\\frac{1}{8} \\approx 0.13}", "\\frac{1}{8}", 1.0),  # a tie rounds either way
        ("\\boxed{\\frac{1}{8} \\approx 0.12}", "\\frac{1}{8}", 1.0),
        ("\\boxed{\\frac{1}{8} \\approx 0.14}", "\\frac{1}{8}", 0.0),
        ("\\boxed{\\frac{\\sqrt{3}}{3} \\approx 0.5773}", "\\frac{\\sqrt{3}}{3}", 0.0),  # truncated
        ("\\boxed{\\frac{70}{9} \\approx 8}", "\\frac{70}{9}", 1.0),  # to the nearest integer
        ("\\boxed{\\frac{70}{9} \\approx 7}", "\\frac{70}{9}", 0.0),
        ("So $x = 1/3 \\approx 1.3$.", "\\frac{1}{3}", 0.0),  # Math-Verify's test expects 1
        ("\\boxed{7.78 \\approx 5}", "7.78", 0.0),  # hack: the gold, then anything
        # the gold is itself a rounding (3+ significant digits): the approximate side equals it
        ("\\boxed{\\frac{70}{9} \\approx 7.78}", "7.78", 1.0),
        ("\\boxed{5 \\approx 7.78}", "7.78", 0.0),  # hack: the exact side does not round to it
        ("\\boxed{7.77 \\approx 7.78}", "7.78", 0.0),
        ("\\boxed{x = \\frac{70}{9} \\approx 7.78}", "7.78", 1.0),
        ("Anna pays $\\frac{70}{9} \\approx 7.78$ dollars.", "7.78", 1.0),
        ("\\boxed{\\frac{70}{9} \\approx 7.778}", "7.778", 1.0),
        ("\\boxed{\\frac{70}{9} \\approx 7.78}", "7.780", 1.0),
        ("\\boxed{\\frac{70}{9} \\approx 7.8}", "7.78", 0.0),  # the rounded side is not the gold
        ("\\boxed{\\frac{70}{9}}", "7.78", 0.0),  # no approximation written: not the gold
        ("\\boxed{\\frac{70}{9} \\approx 7.78, 2}", "7.78", 0.0),  # a list is not one value
        ("\\boxed{\\frac{70}{9} \\approx 7.78}", "\\frac{70}{9}", 1.0),  # the same answer, exact
        # … but an integer or a coarse gold may be exact: a wrong value rounding to it is 0
        ("\\boxed{\\frac{15}{2} \\approx 8}", "8", 0.0),
        ("\\boxed{\\frac{5}{11} \\approx 0.5}", "0.5", 0.0),
        ("\\boxed{\\frac{83}{333} \\approx 0.25}", "0.25", 0.0),
        ("\\boxed{\\frac{1}{4} \\approx 0.25}", "0.25", 1.0),  # exactly equal: always fine
    ],
)
def test_an_approximation_whose_sides_agree(
    response: str, ground_truth: str, expected: float
) -> None:
    assert score(response, ground_truth) == expected


def test_an_approximation_that_disagrees_says_why() -> None:
    found = verdict("\\boxed{\\frac{1}{2} \\approx 0.9}", "\\frac{1}{2}")
    assert found.details["reason"] == "a relation whose sides disagree"
    read = verdict("\\boxed{\\frac{70}{9} \\approx 7.78}", "7.78")
    assert read.details["read_as"] == "the approximate side"


def test_strict_false_stays_plain_math_verify_on_approximations() -> None:
    # math-verify reads the left side of \approx: 70/9 is not 7.78 at 6 decimals
    assert score("\\boxed{\\frac{70}{9} \\approx 7.78}", "7.78", strict=False) == 0.0
    assert score("\\boxed{\\frac{1}{2} \\approx 0.9}", "\\frac{1}{2}", strict=False) == 1.0


@pytest.mark.parametrize(
    ("answer", "side"),
    [
        ("\\frac{70}{9} \\approx 7.78", "7.78"),
        ("x = \\frac{70}{9} \\approx 7.78", "7.78"),
        ("\\frac{70}{9} \\approx 7.78 \\right", "7.78"),
        ("\\frac{70}{9} = 7.78", None),  # an equality is not an approximation
        ("7.78 \\approx \\frac{70}{9} = 7.7", None),  # the last relation decides
        ("\\frac{70}{9} \\approx 7.78, 2", None),  # an item of a list
        ("(\\frac{70}{9} \\approx 7.78)", None),  # inside brackets: not the whole answer
        ("\\frac{70}{9} \\approxeq 7.78", None),
        ("7.78", None),
    ],
)
def test_approximate_side(answer: str, side: str | None) -> None:
    assert mr.approximate_side(answer) == side


@pytest.mark.parametrize(
    ("gold", "fine"),
    [("7.78", True), ("0.577", True), ("12.5", True), ("-7.78", True), ("0.00577", True),
     ("8", False), ("778", False), ("0.5", False), ("0.25", False), ("0.05", False),
     ("7.", False), ("\\frac{7}{9}", False), ("7.78x", False)],
)  # fmt: skip
def test_fine_rounding(gold: str, fine: bool) -> None:
    assert mr.fine_rounding(gold) is fine


# --- a trailing backslash (a LaTeX line break, or one left from a table) is not part of the value


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("\\boxed{185\\}", "185", 1.0),
        ("\\boxed{185\\}", "185\\", 1.0),  # NeMo-Skills' gold keeps it too
        ("\\boxed{185\\\\}", "185", 1.0),
        ("<answer>185\\</answer>", "185", 1.0),
        ("\\boxed{185\\}", "1850", 0.0),
        ("\\boxed{18\\5}", "185", 0.0),  # hack: a backslash inside the number is not dropped
        ("\\boxed{185 \\\\ 186}", "185", 0.0),  # hack: a line break between two values
        ("\\boxed{185 \\\\ 186}", "186", 0.0),
        ("\\boxed{185\\\\186}", "186", 0.0),
        ("<answer>185\\\\\n186</answer>", "186", 0.0),
    ],
)
def test_a_trailing_backslash_is_ignored(response: str, ground_truth: str, expected: float) -> None:
    assert score(response, ground_truth) == expected
