"""The final-answer rule every verifier shares (``_text``): where the answer is, boxes, hedges,
special tokens."""

from __future__ import annotations

import pytest

from reward_service.verifiers._text import (
    END_TOKENS,
    HEDGE,
    MAX_BOXES,
    TRUNCATED,
    Region,
    answer_block,
    boxed,
    final_answer,
    locate,
    missing,
    unanswered,
    without_special_tokens,
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
        ("reasoning \\boxed{3}</think>\n\\boxed{4}", "4"),  # the template opened the thinking
        ("<THINK>\\boxed{3}</Think> so \\boxed{4}", "4"),  # tags in any case
        ("<think>\\boxed{3}</think><Answer>4</ANSWER>", "4"),
        ("<think><answer>3</answer></think>\n\\boxed{4}", "4"),  # a block in the thinking
        ("<answer>4</answer>\n<answer> \\boxed{4} </answer>", "4"),  # the same answer twice
        ("\\boxed{7}<|im_end|>", "7"),  # end-of-sequence tokens removed
        ("7<|endoftext|><|endoftext|>", "7"),
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
    assert boxed(locate(response).text).hedge
    assert unanswered(response) == HEDGE


def test_boxed_keeps_the_outermost_answers_in_order() -> None:
    found = boxed("\\boxed{2} and \\boxed{\\boxed{3}} and \\boxed{x + \\boxed{4}}")
    assert found.answers == ["2", "3", "x + \\boxed{4}"]
    assert found.hedge


def test_answer_block_needs_its_closing_tag() -> None:
    assert answer_block("<answer>4") is None
    assert answer_block("x <answer>4</answer> <answer>5</answer>") == "4"  # the first block
    assert locate("<answer>4") == Region("<answer>4")  # no block: the text itself
    assert locate("<answer>4</answer> <answer>5") == Region("4", is_block=True)


@pytest.mark.parametrize(
    "response",
    [
        "<think>\\boxed{4}",  # cut off while thinking: never read
        "<think>a</think>\\boxed{4}\n<think>b",  # a later thinking never closed
        "<Think>\\boxed{4}",
        "<think>a</think>\n<answer>4</answer>\n<think>",
        "<think>\\boxed{4}<|im_end|>",
    ],
)
def test_an_unclosed_thinking_has_no_answer(response: str) -> None:
    assert locate(response) == Region("", problem=TRUNCATED)
    assert final_answer(response) is None
    assert unanswered(response) == TRUNCATED
    assert missing(response, "box") == TRUNCATED


@pytest.mark.parametrize(
    "response",
    [
        "<answer>3</answer>\n<answer>4</answer>",
        "<think>a</think><answer>3</answer> or <ANSWER>4</answer>",
        "<answer>\\boxed{3}</answer><answer>\\boxed{4}</answer>",
        "<answer></answer><answer>4</answer>",  # an empty block is an answer too
        "<answer>\\boxed{3} \\boxed{4}</answer><answer>3</answer>",  # a hedged block
    ],
)
def test_answer_blocks_that_differ_are_a_hedge(response: str) -> None:
    assert locate(response) == Region("", problem=HEDGE)
    assert final_answer(response) is None


def test_the_v_triune_block_is_read_anywhere_and_in_one_case() -> None:
    # /judge's reading (compat.vtriune, detection's vtriune_compat) is not the native one
    assert answer_block("<think><answer>3</answer></think><answer>4</answer>") == "3"
    assert answer_block("<ANSWER>4</ANSWER>") is None


def test_special_tokens_are_removed_and_nothing_else() -> None:
    kept = "<b> <s> <|box_start|> <think> <x"
    text = "".join(f"a{token}" for token in END_TOKENS) + kept
    assert without_special_tokens(text) == "a" * len(END_TOKENS) + kept
    assert without_special_tokens("<" * 64_000) == "<" * 64_000
    assert without_vision_tokens("7<|im_end|>") == "7<|im_end|>"  # /judge keeps them


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
        ("<think>" * 8_000 + "</think>" * 8_000, 0),  # after the last </think>: nothing
        ("<answer>4</answer>" * 8_000, 1),  # one answer, 8,000 times
        ("<|im_end|>" * 8_000, 0),
    ],
)
def test_adversarial_boxes(response: str, length: int | None) -> None:
    # linear-time parsing (its cost on these inputs: bench/bench_hostile.py)
    found = final_answer(response)
    assert (None if found is None else len(found)) == length
