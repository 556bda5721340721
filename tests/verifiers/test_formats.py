"""The ``think_answer`` format checker (V-Triune / Orsta)."""

from __future__ import annotations

import json

import pytest

import reward_service.verifiers  # noqa: F401  (registers detection_answer)
from reward_service.contract.registry import FORMATS
from reward_service.verifiers.formats import think_answer

WELL_FORMED = "<think>\nwork\n</think>\n<answer>\n\\boxed{4}\n</answer>"


def test_registered() -> None:
    assert FORMATS.get("think_answer").fn is think_answer


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (WELL_FORMED, 1.0),  # all four tags once
        ("<think>\nwork\n</think>\n\\boxed{4}", 0.5),  # no answer block (vector M20)
        ("<think>\nwork\n</think>\n<answer>\n4</answer>", 0.75),  # "\n</answer>" needs its newline
        ("<think>work</think><answer>4</answer>", 0.0),  # tags without newlines earn nothing
        ("", 0.0),  # empty response
        (WELL_FORMED + WELL_FORMED, 0.0),  # every tag twice: none "exactly once"
        (WELL_FORMED + "\n</answer>", 0.75),  # a repeated closing tag loses only its quarter
        ("<think>\n</think>\n", 0.5),  # tags counted separately: one "\n" ends one, opens the next
        ("\n</think>\n<answer>\n", 0.5),  # likewise "\n</think>\n" + "\n<answer>\n"
        # reward hacking: order and content are not checked (caveat in the module docstring)
        ("\n</answer>\n<answer>\n\n</think>\n<think>\n", 1.0),
    ],
)
def test_scores(response: str, expected: float) -> None:
    assert think_answer(response) == expected


def test_huge_response_is_scored() -> None:
    response = "<think>\n" + "x" * 64_000 + "\n</think>\n<answer>\n4\n</answer>"
    assert think_answer(response) == 1.0


def test_vision_tokens_do_not_break_the_tags() -> None:
    # V-Triune decodes without special tokens: a stray <|image_pad|> inside a tag is not there
    response = "<think>\n<|image_pad|>work\n</think><|vision_end|>\n<answer>\n4\n</answer>"
    assert think_answer(response) == 1.0


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("think_answer", ["<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"]),
        ("detection_answer", ["\n<answer>\n", "\n</answer>"]),
    ],
)
def test_served_summary_names_the_exact_tags(name: str, tags: list[str]) -> None:
    # GET /v1/verifiers serves the summary: it must spell each tag with its newlines
    summary = FORMATS.get(name).summary
    assert all(json.dumps(tag) in summary for tag in tags)
