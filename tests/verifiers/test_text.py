"""The final-answer rule every verifier shares (``_text``): region, boxes, hedges, vision tokens."""

from __future__ import annotations

import pytest

from reward_service.verifiers._text import (
    MAX_BOXES,
    answer_block,
    answer_region,
    boxed,
    final_answer,
    without_vision_tokens,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<answer>\n4\n</answer>", "\n4\n"),  # the answer block, unstripped
        ("<think>\\boxed{3}</think>\n<answer>4</answer>", "4"),  # the block wins
        (
            "<think>a</think>\n<answer>\\boxed{4}</answer> \\boxed{5}",
            "4",
        ),  # its box, not a later one
        ("<think>\\boxed{3}</think> so \\boxed{4}", "4"),  # after the thinking
        ("<think>a</think>\\boxed{3}<think>b</think>\\boxed{4}", "4"),  # after the LAST </think>
        ("<think>\\boxed{3}</think> so 4", " so 4"),  # a box in the thinking is never read
        ("<think>unclosed \\boxed{4}", "4"),  # no </think>: the whole text
        ("\\boxed{4} and again \\boxed{ 4 }", " 4 "),  # the same value twice is no hedge
        ("\\boxed{\\boxed{4}}", "4"),  # a box that only wraps a box
        ("\\boxed 4", "4"),  # a brace-less box boxes one token
        ("\\fbox{4}", "4"),
        ("<|vision_start|><|image_pad|><|vision_end|><answer>4</answer>", "4"),
        ("<image>\\boxed{4}", "4"),
        ("", ""),
    ],
)
def test_final_answer(response: str, expected: str) -> None:
    assert final_answer(response) == expected


@pytest.mark.parametrize(
    "response",
    [
        "\\boxed{3} or \\boxed{4}",
        "\\boxed{3}.\n\nSo finally \\boxed{4}",  # however far apart
        "<answer>\\boxed{3} \\boxed{4}</answer>",
        "\\boxed{4} but maybe \\boxed 5",  # a brace-less box counts
        "\\fbox{3} \\boxed{4}",
        "\\boxed{\\boxed{3} 4}",  # nested boxes of different values
        "\\boxed{x + \\boxed{4}}",
        "\\boxed{4}" * (MAX_BOXES + 1) + "",  # more boxes than any answer needs: a hedge, not work
    ],
)
def test_several_different_boxes_are_a_hedge(response: str) -> None:
    assert final_answer(response) is None
    assert boxed(answer_region(response)).hedge


def test_boxed_keeps_the_outermost_answers_in_order() -> None:
    found = boxed("\\boxed{2} and \\boxed{\\boxed{3}} and \\boxed{x + \\boxed{4}}")
    assert found.answers == ["2", "3", "x + \\boxed{4}"]
    assert found.hedge


def test_answer_block_needs_its_closing_tag() -> None:
    assert answer_block("<answer>4") is None
    assert answer_block("x <answer>4</answer> <answer>5</answer>") == "4"  # the first block
    assert answer_region("<answer>4") == "<answer>4"  # no block: the text itself


def test_vision_tokens_are_removed_and_nothing_else() -> None:
    text = "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>a <b> <|video_pad|>c <image>"
    assert without_vision_tokens(text) == "a <b> c "


@pytest.mark.parametrize(
    ("response", "length"),
    [
        ("\\boxed{" * 9_000 + "}" * 9_000, None),  # deeply nested, all closed: no answer
        ("\\boxed{" * 9_000, 63_000),  # all unclosed: no box, the text itself
        ("\\boxed 1 " * 8_000, None),  # brace-less boxes
        ("<answer>" * 8_000 + "</answer>" * 8_000, 63_992),  # the first block, to its end
    ],
)
def test_adversarial_boxes(response: str, length: int | None) -> None:
    # linear-time parsing (its cost on these inputs: bench/bench_hostile.py)
    found = final_answer(response)
    assert (None if found is None else len(found)) == length
