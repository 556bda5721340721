"""The ``choice`` verifier (Mixed-R1 matching reward: letters and yes/no)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context, NoParams
from reward_service.verifiers.choice import choice_reward, normalise, prepare


def score(response: str, ground_truth: Any = "B") -> float:
    gold = prepare(ground_truth, NoParams())
    return choice_reward(response, gold, NoParams(), Context()).accuracy


def test_registered() -> None:
    spec = VERIFIERS.get("choice")
    assert (spec.fn, spec.prepare, spec.params) == (choice_reward, prepare, NoParams)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<answer>B</answer>", 1.0),  # the plain case
        ("<answer> b. </answer>", 1.0),  # strip, lower-case, trailing period
        ("<answer>(B)</answer>", 1.0),  # letter forms of the spec …
        ("<answer>B)</answer>", 1.0),
        ("<answer>Option B</answer>", 1.0),
        ("<answer>option (b).</answer>", 1.0),
        ("<answer>C</answer>", 0.0),  # a wrong letter
        ("\\boxed{B}", 1.0),  # no answer block: the last box
        ("\\boxed{B} no wait \\boxed{C}", 0.0),  # several different boxes: a hedge …
        ("\\boxed{C} no wait \\boxed{B}", 0.0),  # … whichever comes last
        ("\\boxed{B} so \\boxed{B}", 1.0),  # the same answer twice is no hedge
        ("<answer>\n\\boxed{B}\n</answer>", 1.0),  # a box inside the answer block is unwrapped
        ("<answer>C</answer> \\boxed{B}", 0.0),  # the answer block wins over a later box
        ("<think>maybe A</think>\n<answer>B</answer>", 1.0),  # reasoning is ignored
        ("<think>\\boxed{B}</think>\nC", 0.0),  # a box hidden in the thinking is not read
        ("<think>\\boxed{A}</think>\n\\boxed{B}", 1.0),  # … the one after it is
        ("B", 1.0),  # neither: the whole text
        ("The answer is B", 0.0),  # whole text is not searched for a letter
        # reward hacking
        ("<answer>A B C D</answer>", 0.0),  # answer spamming
        ("\\boxed{A, B}", 0.0),  # two options in one box
        ("<answer>B. cat</answer>", 0.0),  # letter plus option text is not a letter form
        ("<answer>B or C</answer>", 0.0),
        ("\\boxed{\\text{B}}", 1.0),  # a wrapper around the whole answer is read through
        ("", 0.0),  # empty response
        ("<answer></answer>", 0.0),  # empty answer block
        # wrappers around the whole answer are read through; around a part they are kept
        ("\\boxed{\\mathbf{B}}", 1.0),
        ("<answer>\\textbf{(B)}</answer>", 1.0),
        ("<answer>**B**</answer>", 1.0),
        ("$\\mathrm{B}$", 1.0),
        ("\\(\\text{B}\\)", 1.0),
        ("\\underline{\\textit{Option B}}", 1.0),
        ("**A** or **B**", 0.0),
        ("\\textbf{A} \\textbf{B}", 0.0),
        ("\\mathbf{A, B}", 0.0),
        # look-alikes: full-width, mathematical bold, Cyrillic and Greek capitals → B
        ("<answer>\uff22</answer>", 1.0),
        ("<answer>\U0001d401</answer>", 1.0),
        ("<answer>\u0412</answer>", 1.0),
        ("<answer>\u0392</answer>", 1.0),
        ("<answer>\u0392, \u0421</answer>", 0.0),  # Greek B, Cyrillic C: two options
    ],
)
def test_letters(response: str, expected: float) -> None:
    assert score(response) == expected


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("<answer>Yes.</answer>", "yes", 1.0),  # vector R3
        ("<answer>Yes, because the sky is blue.</answer>", "yes", 1.0),  # the first word decides
        ("<answer>No</answer>", "Yes", 0.0),
        ("<answer>Nothing</answer>", "no", 0.0),  # "no" must be a whole word
        ("<answer>yes/no</answer>", "yes", 0.0),  # one token, not the word "yes"
        ("<answer>Yes, no, maybe</answer>", "yes", 0.0),  # both words: a hedge
        ("<answer>No. Yes.</answer>", "no", 0.0),
        ("<answer>42</answer>", 42, 1.0),  # a numeric ground truth is read as text
        ("<answer>Paris</answer>", "paris", 1.0),  # any other string: normalised equality
        ("<answer>Paris, France</answer>", "paris", 0.0),
        # look-alike letters do not hide the second word of a hedge …
        ("<answer>Yes. N\u043e.</answer>", "yes", 0.0),  # Cyrillic o
        ("<answer>Yes. \u039do.</answer>", "yes", 0.0),  # Greek capital nu
        ("<answer>Yes, \uff2e\uff4f</answer>", "yes", 0.0),  # full-width
        ("<answer>Yes. N\u200bo.</answer>", "yes", 0.0),  # a zero-width space inside
        ("<answer>Yes. N\u00ado.</answer>", "yes", 0.0),  # a soft hyphen inside
        ("<answer>No. Y\u0435s.</answer>", "no", 0.0),  # Cyrillic e
        ("<answer>Yes. \u0274\u1d0f.</answer>", "yes", 0.0),  # small capitals
        # … and are read as the word they imitate
        ("<answer>Y\u0435s.</answer>", "yes", 1.0),
        ("<answer>\U0001d40d\U0001d428</answer>", "no", 1.0),
        ("<answer>**Yes**, it is.</answer>", "yes", 1.0),
        ("<answer>**Yes**. **No**.</answer>", "yes", 0.0),
    ],
)
def test_yes_no_and_other_answers(response: str, ground_truth: Any, expected: float) -> None:
    assert score(response, ground_truth) == expected


@pytest.mark.parametrize(
    ("text", "normalised"),
    [("(C)", "c"), ("option d.", "d"), ("  YES!  ", "yes"), ("a b", "a b"), ("no.", "no")],
)
def test_normalise(text: str, normalised: str) -> None:
    # the ground truth goes through the same normalisation as the answer
    assert normalise(text) == normalised
    assert prepare(text, NoParams()) == normalised


@pytest.mark.parametrize("ground_truth", ["", "  .  ", None, True, ["B"], {"answer": "B"}])
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, NoParams())


def test_huge_response_is_scored() -> None:
    response = "<think>" + "A B C D " * 8_000 + "</think><answer>B</answer>"
    assert score(response) == 1.0
    assert score("x" * 64_000) == 0.0


def test_details_show_the_answer() -> None:
    gold = prepare("B", NoParams())
    assert choice_reward("\\boxed{(C)}", gold, NoParams(), Context()).details == {"extracted": "c"}


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        NoParams.model_validate({"case_sensitive": True})
