"""Chat messages as raas's response and prompt (``trainer_client.chat``): the mapping table, on
messages written out and on messages TRL's own response parser makes from a model's raw output."""

from __future__ import annotations

from typing import Any

import pytest
from trl.chat_template_utils import parse_response

from devtools.toy import build_chat_tokenizer
from trainer_client.chat import prompt_images, prompt_text, response_text

# a long chain of thought, as GRPO policies write them (kB), with a reflection word in it
REASONING = " ".join(
    f"Step {i}: the box edge is near x={10 * i}; wait, re-check it on the grid." for i in range(40)
)
THINK = f"<think>\n{REASONING}\n</think>\n"


def assistant(content: Any = "", **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **fields}


CALL = [{"type": "function", "function": {"name": "zoom", "arguments": {"x": 3}}}]


@pytest.mark.parametrize(
    ("completion", "response"),
    [
        # a trainer without a response template hands the decoded text: as it is
        ("<think>\nhm\n</think>\n<answer>4</answer>", "<think>\nhm\n</think>\n<answer>4</answer>"),
        ([assistant("so \\boxed{4}")], "so \\boxed{4}"),
        (assistant("one message, not a list"), "one message, not a list"),
        # multimodal content: the text parts, in order
        (
            [
                assistant(
                    [
                        {"type": "text", "text": "a "},
                        {"type": "image"},
                        {"type": "text", "text": "b"},
                    ]
                )
            ],
            "a b",
        ),
        # thinking moved out by TRL's parser goes back before the answer, in think_answer's tags
        (
            [assistant("<answer>\n4\n</answer>", reasoning_content=REASONING)],
            f"{THINK}<answer>\n4\n</answer>",
        ),
        ([assistant("4", reasoning_content=f"\n  {REASONING}  \n\n")], f"{THINK}4"),
        ([assistant("4", thinking=REASONING)], f"{THINK}4"),  # gpt-oss, LFM2.5 name it so
        ([assistant("4", reasoning_content="  \n ")], "4"),  # empty thinking: no tags
        ([assistant(None, reasoning_content="hm", tool_calls=CALL)], "<think>\nhm\n</think>\n"),
        # nothing after the thinking: TRL cannot tell a think cut short, so no closing tag
        ([assistant("", reasoning_content="cut sh")], "<think>\ncut sh"),
        # a tool-using rollout: tool calls and tool results are not the policy's answer
        (
            [
                assistant("", reasoning_content="zoom in first", tool_calls=CALL),
                {"role": "tool", "name": "zoom", "content": "[0, 0, 5, 5] \\boxed{99}"},
                assistant("<answer>[10, 20, 110, 120]</answer>", reasoning_content=REASONING),
            ],
            f"<think>\nzoom in first\n</think>\n\n{THINK}<answer>[10, 20, 110, 120]</answer>",
        ),
        (
            [assistant("x"), {"role": "user", "content": "an environment's turn"}, assistant("y")],
            "x\ny",
        ),
        ([{"role": "tool", "content": "only a tool spoke"}], ""),
        ([], ""),
    ],
)
def test_response_text(completion: Any, response: str) -> None:
    assert response_text(completion) == response


@pytest.mark.parametrize("completion", [None, 3, [3], ["text in a list"], [assistant(7)]])
def test_what_is_not_text_or_messages_is_refused(completion: Any) -> None:
    with pytest.raises(TypeError):
        response_text(completion)


# raw model output (Qwen3's layout) → TRL's parse_response → raas's response: the single-turn
# response is the model's own text less the end-of-turn token and Qwen3's blank line after
# </think>, so think_answer's tags and the answer parsers find what the model wrote
PARSED = [
    (f"{THINK}\n<answer>\n4\n</answer><|im_end|>", f"{THINK}<answer>\n4\n</answer>"),
    ("The answer is \\boxed{4}.<|im_end|>", "The answer is \\boxed{4}."),
    (
        f"{THINK}\n<tool_call>\n"
        '{"name": "zoom", "arguments": {"x": 3}}'
        "\n</tool_call><|im_end|>",
        THINK,
    ),
    ("<think>\nstill thinking when the budget ran", "<think>\nstill thinking when the budget ran"),
]


@pytest.mark.parametrize(("raw", "response"), PARSED)
def test_responses_trl_parsed(raw: str, response: str) -> None:
    tokenizer = build_chat_tokenizer()
    prefix = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Where is the cat?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    ids = tokenizer(raw, add_special_tokens=False)["input_ids"]
    message = parse_response(tokenizer, ids, prefix=prefix)
    assert response_text([message]) == response


IMAGE_A, IMAGE_B = object(), object()


@pytest.mark.parametrize(
    ("prompt", "text", "images"),
    [
        ("7+5=", "7+5=", []),
        (
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "Hi",  # the trainer's instructions to the policy are not the question
            [],
        ),
        # as TRL builds a VLM prompt from the dataset's images
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "image": IMAGE_A},
                        {"type": "image", "image": IMAGE_B},
                        {"type": "text", "text": "Describe them."},
                    ],
                }
            ],
            "Describe them.",
            [IMAGE_A, IMAGE_B],
        ),
        (
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}],
            "q",
            [],
        ),
    ],
)
def test_prompt_text_and_images(prompt: Any, text: str, images: list[Any]) -> None:
    assert prompt_text(prompt) == text
    assert prompt_images(prompt) == images


@pytest.mark.parametrize(
    ("messages", "prompt"),
    [
        (
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            "a\n\nc",
        ),
        ([{"role": "user", "content": [{"type": "image", "image": "x.png"}]}], None),
        ([{"role": "system", "content": "only instructions"}], None),
        ("a bare prompt", "a bare prompt"),
        ("", None),
        (None, None),
    ],
)
def test_prompt_text_is_the_user_turns(messages: Any, prompt: str | None) -> None:
    assert prompt_text(messages) == prompt


def test_prompt_images_in_order_whatever_their_form() -> None:
    png = b"\x89PNG\r\n\x1a\n..."
    uri = "data:image/png;base64,AAAA"
    messages = [
        {"role": "system", "content": "Look closely."},
        {
            "role": "user",
            "content": [
                {"type": "image", "bytes": png, "image": IMAGE_A},  # verl's parquet rows: the bytes
                {"type": "text", "text": "and"},
                {"type": "image", "image": IMAGE_B},  # TRL, 🤗 datasets
                {"type": "image_url", "image_url": {"url": uri}},  # OpenAI style
                {"type": "image", "path": "cats/1.png"},  # for the model's image_root
            ],
        },
    ]
    assert prompt_images(messages) == [png, IMAGE_B, uri, "cats/1.png"]
    assert prompt_images("text only") == []
    assert prompt_images([{"role": "user", "content": "no parts"}]) == []
    assert prompt_images(None) == []
