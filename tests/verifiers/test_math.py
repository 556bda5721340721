"""The ``math`` verifier (Math-Verify 0.9.0), and every reward vector of the text verifiers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import FORMATS, VERIFIERS, Context, Score
from reward_service.verifiers.math_answer import MathParams, math_reward, parse_gold
from tests.conftest import load_vectors

TEXT_VERIFIERS = {"math", "choice", "chart", "counting", "ocr"}


def score(response: str, ground_truth: Any, *, vtriune: bool = False, **params: Any) -> float:
    return verdict(response, ground_truth, vtriune_compat=vtriune, **params).accuracy


def verdict(response: str, ground_truth: Any, **params: Any) -> Score:
    validated = MathParams(**params)
    return math_reward(response, parse_gold(ground_truth, validated), validated, Context())


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
        # several different boxes in the final answer are a hedge, however far apart
        ("\\boxed{1}.\n\nSo finally \\boxed{2}", "2", 0.0),
        ("\\boxed{1}.\n\nSo finally \\boxed{2}", "1", 0.0),
        ("\\boxed{4} \\boxed{4}", "4", 1.0),  # repeating one answer is not hedging
        ("\\boxed{A} \\boxed{B} \\boxed{C} \\boxed{D}", "B", 0.0),  # option spamming → {a,b,c,d}
        # the final answer: the answer block, else after the thinking (one rule for all verifiers)
        ("<think>\\boxed{4}</think> so 5", "4", 0.0),  # a box in the thinking is never read
        ("<think>\\boxed{3}</think>\n\\boxed{4}", "4", 1.0),
        ("<answer>\\boxed{4}</answer> \\boxed{5}", "4", 1.0),  # a box after the block: not read
        ("<|vision_start|><|image_pad|><|vision_end|>\\boxed{4}", "4", 1.0),  # tokens dropped
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
        ("\\boxed{(x+1)(x+1)}", "(x+1)^2", 1.0),  # symbolic equality, not string equality
        ("\\boxed{x^2+2x+1}", "x^2+2x+1", 1.0),
        ("\\boxed{x^2+2x+1}", "(x+1)^2", 0.0),  # expanded where the gold is factored (strict)
        ("\\boxed{0.333333}", "\\frac13", 1.0),  # six digits pass (spec)
        # the ground truth is wrapped in $…$ when bare
        ("\\boxed{2\\pi}", "2\\pi", 1.0),
        ("\\boxed{2}", "2\\pi", 0.0),  # unwrapped, 2\pi would truncate to 2
        ("\\boxed{1024}", "2^{10}", 1.0),
        ("\\boxed{b}", "B", 1.0),  # a one-letter gold is a choice: any case …
        ("\\boxed{\\text{B}}", "B", 1.0),
        ("\\boxed{(B)}", "B", 1.0),
        ("\\boxed{2.718282}", "E", 0.0),  # … and only a letter: E is not Euler's number
        ("\\boxed{\\sqrt{-1}}", "I", 0.0),  # … nor I the imaginary unit
        # what counts as an answer
        ("The final answer is $5$", "5", 1.0),  # anchored LaTeX
        ("the answer is 5", "5", 0.0),  # anchor without LaTeX: nothing extracted
        ("5", "5", 0.0),  # a bare number → 0 (spec)
        ("<answer>4</answer>", "4", 1.0),  # an answer block that is only an answer is read …
        ("<answer>\n\\frac{1}{2}\n</answer>", "0.5", 1.0),  # … as LaTeX
        ("<answer>so 4</answer>", "4", 0.0),  # … but prose in it is not searched
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


def test_huge_response_is_scored() -> None:
    # 64k characters of chatter before the box (its cost: bench/bench_hostile.py)
    response = "word " * 12_800 + "\\boxed{4}"
    assert score(response, "4") == 1.0


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


@pytest.mark.parametrize(
    ("response", "ground_truth", "reason"),
    [
        # each is equal to math-verify (strict: false pays it) and rejected by one strict check
        ("\\boxed{0.00000049}", "0.0000004", "equal only after rounding"),
        ("\\boxed{10^{-21}}", "10^{-20}", "equal only after rounding"),
        ("\\boxed{0.5000001}", "\\frac12", "equal only after rounding"),
        ("\\boxed{x + 1 + 10^{-21}}", "x + 1", "equal only after rounding"),
        ("\\boxed{(1, 4.5000001)}", "(1, \\frac92)", "equal only after rounding"),
        ("\\boxed{12 = 7}", "7", "a relation whose sides disagree"),
        ("\\boxed{\\frac13 \\approx 0.5}", "\\frac13", "a relation whose sides disagree"),
        ("\\boxed{y = 5 = 7}", "7", "a chain of relations whose sides disagree"),
        ("\\boxed{x = 5+5+1 = 7 = 11}", "x = 11", "a chain of relations whose sides disagree"),
        ("\\boxed{7 \\quad 1}", "8", "several values separated by spacing"),
        ("\\boxed{7 \\; 1}", "8", "several values separated by spacing"),
        ("\\boxed{2 \\text{ (or maybe 3)}}", "2", "a number inside \\text{}"),
        ("\\boxed{2 \\text{ or so}}", "2", "alternatives inside \\text{}"),
    ],
)
def test_strict_rejects_what_math_verify_accepts(
    response: str, ground_truth: str, reason: str
) -> None:
    assert score(response, ground_truth, strict=False) == 1.0
    result = verdict(response, ground_truth)
    assert (result.accuracy, result.details["reason"]) == (0.0, reason)


@pytest.mark.parametrize(
    ("response", "ground_truth"),
    [
        # legitimate forms the strict checks must keep
        ("\\boxed{x = 7}", "7"),  # a name on the left
        ("\\boxed{x = 2 + 5 = 7}", "7"),  # a chain whose sides all agree
        ("\\boxed{\\frac13 \\approx 0.333333}", "\\frac13"),
        ("\\boxed{f(x) = (x+1)^2 = x^2 + 2x + 1}", "x^2+2x+1"),
        ("\\boxed{7 = 11a+c}", "7 = 11a+c"),  # an equation, not a value
        ("\\boxed{2 \\frac{1}{2}}", "\\frac52"),  # a mixed number
        ("\\boxed{4 \\text{ m}^2}", "4"),  # a unit
        ("\\boxed{10,\\!000}", "10000"),  # a thousands separator
        ("\\boxed{0.333333}", "\\frac13"),  # within the relative tolerance
        ("\\boxed{1.414214}", "\\sqrt{2}"),
        ("\\boxed{\\frac{2}{\\sqrt{2}}}", "\\sqrt{2}"),  # exact values: equal exactly
        ("\\boxed{4\\%}", "4"),  # math-verify's percent reading is kept
        ("\\boxed{0.04}", "4\\%"),
        ("\\boxed{4.9e-7}", "4.9 \\times 10^{-7}"),  # scientific notation is 10^k, not e
        ("\\boxed{1e1000}", "10^{1000}"),
        ("\\boxed{2} and \\boxed{3}", "\\{2, 3\\}"),  # several values for a gold of several
        ("\\boxed{2 \\text{ or } 3}", "\\{2, 3\\}"),
        ("The final answer is $28\\%$. I hope it is correct.", "28\\%"),  # no lower-casing
        ("The answer is $B$.", "B"),
        ("\\boxed{1 000}", "1000"),  # thousands spaces: one number
        ("\\boxed{12\\,345}", "12345"),
        ("\\boxed{10}", "\\$10"),  # a dollar sign in the gold
        ("\\boxed{185}", "185\\\\"),  # a line break left at the end of the gold
    ],
)
def test_strict_keeps_legitimate_forms(response: str, ground_truth: str) -> None:
    assert verdict(response, ground_truth).accuracy == 1.0


@pytest.mark.parametrize(
    ("response", "ground_truth", "tolerance", "expected"),
    [
        ("\\boxed{0.333333}", "\\frac13", 1e-6, 1.0),  # relative error exactly 1e-6: inclusive
        ("\\boxed{0.333333}", "\\frac13", 1e-7, 0.0),
        ("\\boxed{1.414214}", "\\sqrt2", 1e-6, 1.0),
        ("\\boxed{1.414214}", "\\sqrt2", 1e-8, 0.0),
        ("\\boxed{0.5}", "\\frac12", 0.0, 1.0),
        ("\\boxed{0.5000001}", "\\frac12", 1.0, 0.0),  # 1/2 has a decimal: it must be exact
        ("\\boxed{\\frac13}", "0.3333333333333333", 1e-6, 1.0),  # a JSON float gold of 1/3
    ],
)
def test_tolerance_is_relative(
    response: str, ground_truth: str, tolerance: float, expected: float
) -> None:
    assert score(response, ground_truth, tolerance=tolerance) == expected


@pytest.mark.parametrize("tolerance", [-1e-6, 2.0, float("nan")])
def test_tolerance_must_be_a_fraction(tolerance: float) -> None:
    with pytest.raises(ValidationError):
        MathParams(tolerance=tolerance)


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        # math-verify cannot read these golds: they are compared as normalised strings
        ("\\boxed{12:00}", "12:00", 1.0),  # not 12/0
        ("\\boxed{1:00}", "12:00", 0.0),
        (
            "\\boxed{x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}}",
            "$$x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}$$",
            1.0,
        ),
        ("\\boxed{1 - \\frac{1}{\\mathrm{e}}}", "1 - \\frac{1}{\\mathrm{e}}", 1.0),
        ("\\boxed{1 + \\frac{1}{\\mathrm{e}}}", "1 - \\frac{1}{\\mathrm{e}}", 0.0),
        ("\\boxed{4,}", "4,", 1.0),
    ],
)
def test_unreadable_gold_is_compared_as_a_string(
    response: str, ground_truth: str, expected: float
) -> None:
    result = verdict(response, ground_truth)
    assert (result.accuracy, result.details["gold_fallback"]) == (expected, "string")


@pytest.mark.parametrize(
    ("response", "expected"),
    [("\\boxed{1.22}", 1.0), ("\\boxed{1, 22}", 1.0), ("\\boxed{1.2}", 0.0), ("\\boxed{122}", 0.0)],
)
def test_a_plain_decimal_comma_gold_is_read_both_ways(response: str, expected: float) -> None:
    assert score(response, "1,22") == expected
    assert score("\\boxed{12345}", "12,345") == 1.0  # a thousands grouping is not a decimal


def test_an_exponent_beyond_a_thousand_is_not_evaluated() -> None:
    result = verdict("\\boxed{1e100000000}", "1")
    assert (result.accuracy, result.details["reason"]) == (0.0, "exponent beyond ±1000")


def test_hedged_boxes_say_so() -> None:
    result = verdict("\\boxed{3} or \\boxed{4}", "4")
    assert (result.accuracy, result.details["reason"]) == (0.0, "several different boxed answers")


@pytest.mark.parametrize(
    ("response", "ground_truth", "strict", "plain"),
    [
        # strict: false is plain math-verify on the final answer's region, lower-cased
        ("\\boxed{2.718282}", "E", 0.0, 1.0),  # lower-cased, E becomes Euler's number
        ("<think>\\boxed{4}</think> so $4$", "4", 1.0, 1.0),  # after the thinking
        ("<think>\\boxed{4}</think> so 5", "4", 0.0, 0.0),  # the thinking is never read
        ("<think>\\boxed{4}", "4", 0.0, 0.0),  # nor an unclosed one
        ("\\boxed{1}.\n\nSo finally \\boxed{2}", "2", 0.0, 1.0),  # far-apart boxes: last wins
        ("<answer>4</answer>", "4", 1.0, 0.0),  # an answer block is not LaTeX
    ],
)
def test_strict_false_is_plain_math_verify(
    response: str, ground_truth: str, strict: float, plain: float
) -> None:
    assert score(response, ground_truth) == strict
    assert score(response, ground_truth, strict=False) == plain


def test_vtriune_compat_is_never_strict() -> None:
    # /judge replays V-Triune: its rounding verdicts included, whatever strict says
    assert score("\\boxed{0.00000049}", "\\boxed{0.0000004}", vtriune=True) == 1.0
    assert score("\\boxed{12 = 7}", "\\boxed{7}", vtriune=True, strict=True) == 1.0


def test_a_long_chain_of_relations_is_rejected_without_parsing_every_side() -> None:
    result = verdict("\\boxed{x" + " = 1" * 5_000 + "}", "1")
    assert (result.accuracy, result.details["reason"]) == (
        0.0,
        "more relations than can be checked",
    )


def verdict_with_prompt(response: str, ground_truth: str, prompt: str, **params: Any) -> Score:
    validated = MathParams(**params)
    gold = parse_gold(ground_truth, validated)
    return math_reward(response, gold, validated, Context(), prompt=prompt)


@pytest.mark.parametrize(
    ("response", "ground_truth", "prompt", "reason"),
    [
        ("\\boxed{\\dbinom{8}{4}}", "70", "Compute $\\dbinom{8}{4}$.", "restates the question"),
        ("\\boxed{\\dbinom{8}{4}}", "70", "Count the subsets.", "not in final form"),
        ("\\boxed{2^{10} - 24}", "1000", "What is $2^{10} - 24$?", "restates the question"),
        ("\\boxed{\\sqrt{50}}", "5\\sqrt{2}", "Simplify $\\sqrt{50}$.", "not in final form"),
        ("\\boxed{x = 2, x = 3}", "(2, 3)", "Solve $x^2 - 5x + 6 < 0$.", "a set of roots"),
        ("\\boxed{(12 = 7)}", "7", "Find $x$.", "a relation whose sides disagree"),
        ("\\boxed{x - 5 = 7}", "7", "Find $x$.", "an equation to solve"),
        ("\\boxed{7 \\thinspace 1}", "8", "Add $7$ and $1$.", "several values"),
        ("\\boxed{2 \\text{ (three?)}}", "2", "How many?", "a question mark"),
        ("The final answer is $7$. Or maybe $8$.", "7", "Find $x$.", "a hedge after"),
    ],
)
def test_strict_says_why(response: str, ground_truth: str, prompt: str, reason: str) -> None:
    found = verdict_with_prompt(response, ground_truth, prompt)
    assert found.accuracy == 0.0
    assert found.details["reason"].startswith(reason)


@pytest.mark.parametrize(
    ("response", "ground_truth", "prompt"),
    [
        ("\\boxed{\\dbinom{8}{4}}", "70", "Compute $\\dbinom{8}{4}$."),
        ("\\boxed{2^{10} - 24}", "1000", "What is $2^{10} - 24$?"),
        ("\\boxed{\\sqrt{50}}", "5\\sqrt{2}", "Simplify $\\sqrt{50}$."),
        ("\\boxed{\\frac{6}{4}}", "\\frac32", "Add $\\frac12$ and $1$."),
        ("\\boxed{x^2 - 5x + 6}", "(x-2)(x-3)", "Factor $x^2 - 5x + 6$."),
    ],
)
def test_final_form_false_pays_an_equal_unevaluated_answer(
    response: str, ground_truth: str, prompt: str
) -> None:
    assert verdict_with_prompt(response, ground_truth, prompt).accuracy == 0.0
    assert verdict_with_prompt(response, ground_truth, prompt, final_form=False).accuracy == 1.0
    assert score(response, ground_truth, strict=False) == 1.0  # plain math-verify, unchanged


def test_final_form_false_keeps_the_kinds_of_sets() -> None:
    roots = verdict_with_prompt("\\boxed{x = 2, x = 3}", "(2, 3)", "", final_form=False)
    assert roots.accuracy == 0.0
    inequality = verdict_with_prompt("\\boxed{2 < x < 3}", "(2, 3)", "", final_form=False)
    assert inequality.accuracy == 1.0


@pytest.mark.parametrize(
    ("response", "ground_truth"),
    [
        ("\\boxed{\\dbinom{8}{4}}", "70"),
        ("\\boxed{(12 = 7)}", "7"),
        ("The final answer is $7$. Or maybe $8$.", "7"),
    ],
)
def test_vtriune_compat_keeps_its_verdicts(response: str, ground_truth: str) -> None:
    # /judge: V-Triune exact; none of the strict checks apply (plain math-verify pays these)
    assert score(response, ground_truth, vtriune=True) == 1.0
