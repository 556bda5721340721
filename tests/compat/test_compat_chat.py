"""How other trainers' chat shapes become raas's prompt and response (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from reward_service.compat.chat import chat_text, input_images
from reward_service.compat.nemo_gym import response_text

IMG = "data:image/png;base64,AAAA"


def msg(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def think(text: str, key: str = "summary") -> dict[str, Any]:
    kind = "summary_text" if key == "summary" else "reasoning_text"
    return {"type": "reasoning", "id": "rs", key: [{"type": kind, "text": text}]}


CALL = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
RESULT = {"type": "function_call_output", "call_id": "c", "output": "\\boxed{9}"}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ([msg("\\boxed{4}")], "\\boxed{4}"),
        ([think("hmm"), msg("A")], "<think>\nhmm\n</think>\nA"),  # vLLM's parser took the tags
        ([think("full", "content"), msg("A")], "<think>\nfull\n</think>\nA"),
        ([think("a"), think("b"), msg("A")], "<think>\na\nb\n</think>\nA"),
        ([msg("x"), msg("y")], "xy"),
        (
            [think("t1"), msg("\\boxed{1}"), CALL, RESULT, msg("\\boxed{2}")],
            "\\boxed{2}",
        ),  # final turn
        ([msg("a"), CALL, RESULT], ""),  # the model never answered after the tool
        (
            [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "output_text", "text": "u"}],
                },
                msg("a"),
            ],
            "a",
        ),
        ([{"type": "message", "content": "not a list"}, {"type": "refusal"}], ""),
        ([], ""),
    ],
)
def test_response_text(output: list[dict[str, Any]], expected: str) -> None:
    assert response_text(output) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (None, None),
        ("plain", "plain"),
        ([{"role": "system", "content": "S. "}, {"role": "user", "content": "Q?"}], "S. Q?"),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Q"},
                        {"type": "input_image", "image_url": IMG},
                    ],
                }
            ],
            "Q",
        ),
        (
            [{"type": "function_call_output", "output": "tool"}, {"role": "user", "content": "Q"}],
            "Q",
        ),
        ([{"role": "user", "content": [{"type": "image", "image": "x.png"}]}], ""),
    ],
)
def test_chat_text(prompt: Any, expected: str | None) -> None:
    assert chat_text(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("text", []),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": IMG, "detail": "auto"},
                        {"type": "input_text", "text": "Q"},
                    ],
                }
            ],
            [IMG],
        ),
        ([{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}], []),
        ([{"role": "user", "content": "Q"}], []),
    ],
)
def test_input_images(prompt: Any, expected: list[str]) -> None:
    assert input_images(prompt) == expected
