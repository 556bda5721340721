"""The ``ocr`` verifier: normalised exact match or ANLS."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.verifiers.ocr import OcrParams, anls, levenshtein, ocr_reward, prepare


def score(response: str, ground_truth: Any = "Hello World", **params: Any) -> float:
    p = OcrParams(**params)
    return ocr_reward(response, prepare(ground_truth, p), p, Context()).accuracy


def test_registered() -> None:
    spec = VERIFIERS.get("ocr")
    assert (spec.fn, spec.prepare, spec.params) == (ocr_reward, prepare, OcrParams)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<answer>Hello World</answer>", 1.0),
        ("<answer>  hello \n  WORLD </answer>", 1.0),  # strip, lower-case, collapse whitespace
        ("<answer>Hello World.</answer>", 0.0),  # punctuation is part of the text
        ("<answer>Hello Wor1d</answer>", 0.0),  # one wrong character fails exact mode
        ("\\boxed{Hello World}", 1.0),  # no answer block: the last box
        ("<answer>\\boxed{Hello World}</answer>", 1.0),  # a box inside the block
        ("<think>\nreading…\n</think>\nHello World", 1.0),  # neither: text after thinking
        ("Hello World", 1.0),  # no think block: the whole text
        ("<answer>Hello</answer> World", 0.0),  # the block, not the whole text
        # reward hacking: a box hidden in a closed think block is not read
        ("<think>\\boxed{Hello World}</think>\nno idea", 0.0),
        ("", 0.0),  # empty response
        ("\\boxed{\\text{Hello World}}", 1.0),  # a wrapper around the whole answer
        ("<answer>$\\text{Hello World}$</answer>", 1.0),
        ("<answer>**Hello World**</answer>", 0.0),  # Markdown's characters may be the text
    ],
)
def test_exact(response: str, expected: float) -> None:
    assert score(response) == expected


@pytest.mark.parametrize(
    ("response", "ground_truth", "params", "expected"),
    [
        ("hello world", "Hello World", {}, 1.0),  # identical after normalisation
        ("hello wor1d", "hello world", {}, 1 - 1 / 11),  # one substitution in 11
        ("hello", "hello world", {}, 0.0),  # six deletions: s = 5/11 < 0.5 → 0 …
        ("ab", "ac", {}, 0.5),  # … but s = 0.5 exactly is kept ("0 below 0.5", spec)
        ("hello", "hello world", {"anls_threshold": 0.4}, 1 - 6 / 11),  # a lower threshold
        ("kitten", "sitting", {"anls_threshold": 0}, 1 - 3 / 7),  # classic distance 3
        ("xyz", "abc", {"anls_threshold": 0}, 0.0),  # nothing in common
        ("", "abc", {"anls_threshold": 0}, 0.0),  # empty response
        ("helo", ["hello", "help"], {}, 1 - 1 / 5),  # the best of several answers: 0.8 > 0.75
        # reward hacking: padding the answer only lowers the similarity
        ("hello world hello world", "hello world", {}, 0.0),
    ],
)
def test_anls(response: str, ground_truth: Any, params: dict[str, Any], expected: float) -> None:
    assert score(response, ground_truth, mode="anls", **params) == pytest.approx(
        expected, abs=1e-12
    )


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("abcX" + "y" * 50 + "Zdef", "abc" + "y" * 50 + "def", 2),  # shared prefix and suffix
        ("aaaa", "aa", 2),  # prefix and suffix trimming must not overlap
        ("ab", "ba", 2),  # no transpositions
    ],
)
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_anls_skips_hopeless_lengths() -> None:
    # 64k characters against 11: ratio < 0.5 proves s < 0.5 without the 700k-cell DP (its cost:
    # bench/bench_hostile.py)
    assert anls("x" * 64_000, "hello world", 0.5) == 0.0
    assert score("hello world " * 5_000, mode="anls") == 0.0


def test_long_near_miss_is_cheap() -> None:
    # a long shared prefix/suffix is trimmed before the DP
    text = "lorem ipsum " * 5_000
    assert anls(text + "a" + text, text + "b" + text, 0.5) == pytest.approx(1 - 1 / 120_001)


@pytest.mark.parametrize("ground_truth", ["", "   ", [], ["ok", ""], None, True, [None], {"a": 1}])
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, OcrParams())


def test_exact_accepts_any_listed_answer() -> None:
    assert score("<answer>Hello World</answer>", ["x", "HELLO  world"]) == 1.0
    assert score("<answer>Hello World</answer>", ["x", "y"]) == 0.0


def test_numeric_ground_truth_is_text() -> None:
    assert score("<answer>2023</answer>", 2023) == 1.0


def test_details_show_the_answer() -> None:
    p = OcrParams()
    assert ocr_reward("\\boxed{ Hi  There }", ("x",), p, Context()).details == {
        "extracted": "hi there"
    }


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "fuzzy"},
        {"anls_threshold": 1.5},
        {"anls_threshold": -0.1},
        {"anls_threshold": float("nan")},
        {"threshold": 0.5},
    ],
)
def test_params_reject_unknown_keys_and_bad_values(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OcrParams(**params)


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        ("Caf\u00e9", "Cafe\u0301", 1.0),  # composed vs decomposed: one text (NFC)
        ("Cafe\u0301", "Caf\u00e9", 1.0),
        ("CAFE\u0301", ["caf\u00e9", "bistro"], 1.0),
        ("\u212bngstr\u00f6m", "\u00c5ngstro\u0308m", 1.0),  # the Angstrom sign is Å
        ("\u1112\u1161\u11ab", "\ud55c", 1.0),  # Hangul jamo compose
        ("Cafe", "Caf\u00e9", 0.0),  # an accent dropped changes the text
        ("x2", "x\u00b2", 0.0),  # no compatibility folding: x² is not x2 …
        ("\ufb01le", "file", 0.0),  # … nor the ligature ﬁ fi
        ("\uff33\uff34\uff2f\uff30", "STOP", 0.0),  # … nor full-width letters
        ("ST\u041eP", "STOP", 0.0),  # a Cyrillic O is another letter
        ("init", "__init__", 0.0),  # no Markdown: underscores are text
        ("__init__", "__init__", 1.0),
    ],
)
def test_unicode_forms(response: str, ground_truth: Any, expected: float) -> None:
    assert score(response, ground_truth) == expected
