"""``math`` (strict) reading answers as models write them: an approximation whose sides agree, a
number stated in prose after a "Final Answer:" anchor, a trailing backslash, a currency amount.
Each accepted row has the hack beside it that must still score 0 (issue 23)."""

from __future__ import annotations

import pytest

from reward_service.verifiers import _math_prose as mp
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
        # a unit, a dollar sign or spacing around the rounding is no digit of it
        ("\\boxed{\\frac{70}{9} \\approx 7.78\\text{ dollars}}", "7.78", 1.0),
        ("\\boxed{\\frac{70}{9} \\approx \\$7.78}", "7.78", 1.0),
        ("\\boxed{\\frac{\\sqrt{3}}{3} \\approx 0.577\\,}", "\\frac{\\sqrt{3}}{3}", 1.0),
        ("\\boxed{\\frac{1}{2} \\approx 0.9\\text{ m}}", "\\frac{1}{2}", 0.0),
        ("\\boxed{\\frac{70}{9} \\approx 7.78\\text{ (or 8)}}", "\\frac{70}{9}", 0.0),
        ("\\boxed{778 \\approx 7\\,78}", "778", 0.0),
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
    [
        ("7.78", True),
        ("0.577", True),
        ("12.5", True),
        ("-7.78", True),
        ("0.00577", True),
        ("8", False),
        ("778", False),
        ("0.5", False),
        ("0.25", False),
        ("0.05", False),
        ("7.", False),
        ("\\frac{7}{9}", False),
        ("7.78x", False),
    ],
)
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


# --- the one number a "Final Answer:" sentence states in prose (math-verify reads only LaTeX
# there: "The largest $n$ is 34." was read as n)


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("Final Answer: The largest $n$ is 34.", "34", 1.0),
        ("Final Answer: The largest $n$ is 34 or 35.", "34", 0.0),  # hack: two numbers
        ("Final Answer: The largest $n$ is 34 or 35.", "35", 0.0),
        ("Final Answer: The final answer is 7.78.", "7.78", 1.0),
        ("Final Answer: The final answer is 7.78. I hope it is correct.", "7.78", 1.0),
        ("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "120", 1.0),
        ("Final Answer: Jane started growing Sphere 3 hours ago.", "3", 1.0),
        ("The domain of $f(x)$ has 19 points.\nFinal Answer: 19", "19", 1.0),
        ("**Final Answer:** 34", "34", 1.0),
        ("final answer is -5", "-5", 1.0),
        ("Final Answer: 2/3", "\\frac{2}{3}", 1.0),
        ("Final Answer: 40%", "40", 1.0),
        ("Final Answer: The final answer is 12,000,023.", "12000023", 1.0),
        ("Final Answer: The final answer is 12,000,023.", "(12, 0, 23)", 0.0),
        ("Final Answer: The final answer is $14 {, }916$.", "14916", 1.0),  # LaTeX: math-verify
        # hacks: a second value, or a word that hedges, negates, bounds or scales the number
        ("Final Answer: 34, 35", "34", 0.0),
        ("Final Answer: between 30 and 40", "34", 0.0),
        ("Final Answer: The answer is not 34.", "34", 0.0),
        ("Final Answer: maybe 34", "34", 0.0),
        ("Final Answer: approximately 34", "34", 0.0),
        ("Final Answer: at least 34", "34", 0.0),
        ("Final Answer: 34?", "34", 0.0),
        ("Final Answer: 3 million", "3", 0.0),
        ("Final Answer: 2 times pi", "2", 0.0),
        ("Final Answer: The value is $\\pi$ times 2.", "2", 0.0),  # LaTeX with a value in it
        ("Final Answer: thirty-four, i.e. 34", "34", 0.0),
        ("Final Answer: The 2nd term is 34.", "34", 0.0),
        ("Final Answer: $x^2$ is 34.", "34", 0.0),
        ("Final Answer: After trying 34, the answer is $x$.", "34", 0.0),  # LaTeX after it
        ("Final Answer: 34. Or maybe 35.", "34", 0.0),  # a hedge after the sentence
        ("Final Answer: 34.\nFinal Answer: 35.", "35", 0.0),  # two anchors, two numbers
        ("Final Answer: 34.\nFinal Answer: 35.", "34", 0.0),
        ("Final Answer: 34.\nFinal Answer: The largest $n$ is 34.", "34", 1.0),  # the same one
        ("Final Answer: 34 or 35.\nFinal Answer: 34.", "34", 0.0),
        # only "final answer" anchors: a weaker one is not read (vector M2), nor bare prose
        ("The answer is 42", "42", 0.0),
        ("Answer: 34", "34", 0.0),
        ("Therefore, there are 12 distinct sequences.", "12", 0.0),
        ("34", "34", 0.0),
        # never inside the thinking, and a box still comes first
        ("<think>Final Answer: 34</think>", "34", 0.0),
        ("<think>Final Answer: 35</think>Final Answer: 34", "34", 1.0),
        ("\\boxed{35} Final Answer: 34", "34", 0.0),
    ],
)
def test_a_number_after_final_answer(response: str, ground_truth: str, expected: float) -> None:
    assert score(response, ground_truth) == expected


def test_a_hedged_final_answer_says_why() -> None:
    found = verdict("Final Answer: The largest $n$ is 34 or 35.", "34")
    assert found.details["reason"] == 'several numbers, or a hedge, after "final answer"'
    assert verdict("Final Answer: The largest $n$ is 34.", "34").details["extracted"] == "34"


@pytest.mark.parametrize(
    ("response", "ground_truth"),
    [
        ("Final Answer: The largest $n$ is 34.", "34"),
        ("<answer>$1,000.99</answer>", "1000.99"),
        ("\\boxed{185\\}", "185"),
        ("\\boxed{\\frac{70}{9} \\approx 7.78}", "7.78"),
    ],
)
def test_strict_false_keeps_plain_math_verify(response: str, ground_truth: str) -> None:
    # strict mode's readings; strict: false is plain math-verify on the same region (documented)
    assert score(response, ground_truth) == 1.0
    assert score(response, ground_truth, strict=False) == 0.0


def test_many_anchors_and_long_sentences_are_bounded() -> None:
    # hostile text: the rule stands down past 16 anchors or a 300-character sentence
    assert score("Final Answer: " * 17 + "34", "34") == 0.0
    assert score("Final Answer: " + "word " * 70 + "34.", "34") == 0.0
    assert score("x " * 200_000 + "Final Answer: 34.", "34") == 1.0


# --- a currency amount is its number; commas group thousands only in a proper grouping


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("<answer>$1,000.99</answer>", "1000.99", 1.0),
        ("<answer>\\$1,000.99</answer>", "1000.99", 1.0),
        ("<answer>1,000.99$</answer>", "1000.99", 1.0),
        ("<answer>1,000.99€</answer>", "1000.99", 1.0),
        ("<answer>$1,000</answer>", "1000", 1.0),
        ("Final Answer: The total is $1,000.99.", "1000.99", 1.0),
        ("Final Answer: She pays \\$10,455.", "10455", 1.0),
        ("\\boxed{\\$1,000.99}", "1000.99", 1.0),  # math-verify reads it in a box
        # the tuple/list ambiguity: 1,000 is one thousand, never the pair (1, 0) or {1, 0}
        ("<answer>$1,000</answer>", "(1, 0)", 0.0),
        ("<answer>$1,000</answer>", "\\{1, 0\\}", 0.0),
        ("<answer>$1,000</answer>", "1, 0", 0.0),
        ("Final Answer: 1,000", "(1, 0)", 0.0),
        ("Final Answer: 1,000", "\\{1, 0\\}", 0.0),
        ("\\boxed{\\$1,000}", "(1, 0)", 0.0),
        ("\\boxed{1,000}", "\\{1, 0\\}", 0.0),
        ("\\boxed{1,0}", "(1, 0)", 1.0),  # … while a pair is still a pair
        # not a grouping of thousands: no number is read
        ("<answer>$1,00.99</answer>", "100.99", 0.0),
        ("<answer>$1,00.99</answer>", "1", 0.0),
        ("Final Answer: 2,74 $", "2.74", 0.0),  # a decimal comma, or the list 2, 74
        ("Final Answer: 2,74 $", "74", 0.0),
        ("Final Answer: $1,000, $2,000", "1000", 0.0),  # two amounts
        ("<answer>$1,000 or $2,000</answer>", "1000", 0.0),
        # a bare amount is a bare number (spec: 0), as "5" is
        ("$1,000.99", "1000.99", 0.0),
    ],
)
def test_a_currency_amount(response: str, ground_truth: str, expected: float) -> None:
    assert score(response, ground_truth) == expected


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("$1,000.99", "1000.99"),
        ("\\$10", "10"),
        ("1,000.99$", "1000.99"),
        (" £12 ", "12"),
        ("-$5", "-5"),
        ("€2,500", "2500"),
        ("$12,345,678.5", "12345678.5"),
        ("1,000", None),
        ("10", None),
        ("$1,00", None),
        ("$1,0000", None),
        ("$01,000", None),
        ("$1,000, $2", None),
        ("$10 m", None),
        ("$x", None),
        ("2,74 $", None),
    ],
)
def test_currency_amount(text: str, latex: str | None) -> None:
    assert mp.currency_amount(text) == latex
