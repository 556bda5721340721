"""V-Triune's CoT instruction pool: what its dataset appends to each ``mathverify`` row's last
user message (``verl/utils/dataset/rl_dataset.py`` of MiniMax-AI/One-RL-to-See-Them-All).

``"\\n\\n"`` + a first sentence + a second sentence (nothing between them, as there), each
drawn at random every time the row is read: from the *close-form* pools (``<think>`` and
``<answer>`` tags, then ``\\boxed{}`` with an example) for a row whose ``format_ratio`` is not
0, from the *free-form* pools (step by step, then ``\\boxed{}``) for a row whose
``format_ratio`` is 0 (no format reward, so no tags asked for). Detection rows get nothing:
their prompts carry their own instructions. The text is V-Triune's, character for character —
one free-form entry included where a missing comma in its list joins two sentences into one
(so that pool has 19 entries, as V-Triune draws from).
"""

from __future__ import annotations

import random
from typing import Any, Literal

from trainer_client.grpo.spec import vtriune_model

CotPool = Literal["none", "vtriune"]

FREEFORM_FIRST = (
    "Please provide a step-by-step explanation of your reasoning.",
    "Break down the problem and solve it step by step.",
    "Guide me through your thought process step by step.",
    "Elaborate your reasoning step by step.",
    "Solve this problem by reasoning through each step.",
    "Provide your reasoning in a detailed, step-by-step manner.",
    "Explain each step of your thought process clearly.",
    "Work through the solution, showing each step.",
    "Start from the basics and explain each step of the process.",
    "Walk me through the reasoning process step by step.Please solve this by explaining each step of the way.",
    "Take me through your reasoning process, step by step.",
    "Explain the solution in a detailed, sequential manner.",
    "Describe each step in the solution process clearly.",
    "Provide a breakdown of your reasoning, step by step.",
    "Please outline the steps you took to solve this.",
    "Detail your thought process and explain each step.",
    "Walk me through the logic behind your solution step by step.",
    "Step through your reasoning process carefully.",
    "Break down the solution into manageable steps and explain each.",
)

FREEFORM_SECOND = (
    "Finally, place your answer in \\boxed{}. ",
    "Conclude your reasoning and present the answer inside \\boxed{}.",
    "Your final answer should be placed in \\boxed{}.",
    "Present the result in \\boxed{}.",
    "Wrap up your reasoning and put the solution in \\boxed{}.",
    "Enclose your final answer in \\boxed{}.",
    "The final answer should be boxed in \\boxed{}.",
    "Put your solution inside \\boxed{}.",
    "Display the answer in \\boxed{}.",
    "Put the final answer within \\boxed{}.",
    "Finally, place the answer inside \\boxed{}.",
    "Put your final answer in \\boxed{}.",
    "Conclude with your final result inside \\boxed{}.",
    "Your answer should be enclosed within \\boxed{}.",
    "Wrap your solution in \\boxed{}.",
    "Enclose the final result inside \\boxed{}.",
    "Present the final answer in a \\boxed{} format.",
    "The final answer must be shown within \\boxed{}.",
    "Conclude by boxing the final result in \\boxed{}.",
    "Please display the final answer enclosed in \\boxed{}.",
)

CLOSEFORM_FIRST = (
    "Please solve the problem step by step, providing clear explanations. The reasoning should be enclosed within <think> </think> tags, while the final answer is to be placed within <answer> </answer> tags.",
    "Solve the problem by breaking it down step by step. The reasoning process should be enclosed in <think> </think> tags, and the final answer should be inside <answer> </answer> tags.",
    "Begin by solving the problem step by step, with detailed reasoning enclosed in <think> </think> tags. The final answer must be placed within <answer> </answer> tags.",
    "Please solve the problem sequentially, explaining each step clearly. Enclose your reasoning within <think> </think> tags, and place the final answer inside <answer> </answer> tags.",
    "Solve the problem in steps, providing reasoning within <think> </think> tags, and place the final answer within <answer> </answer> tags.",
    "Proceed to solve the problem step by step, making sure that the reasoning is enclosed in <think> </think> tags. The final answer should be in <answer> </answer> tags.",
    "Break down the problem and solve it step by step. The reasoning should be within <think> </think> tags, and the answer must be enclosed in <answer> </answer> tags.",
    "Work through the problem step by step, enclosing your reasoning in <think> </think> tags, and placing the final answer in <answer> </answer> tags.",
    "Step through the problem, ensuring that your reasoning is contained in <think> </think> tags, with the answer placed inside <answer> </answer> tags.",
    "Please solve the problem by explaining each step in detail. Your reasoning should be enclosed in <think> </think> tags, and the answer should be inside <answer> </answer> tags.",
)

CLOSEFORM_SECOND = (
    "Moreover, the final answer should be inside \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "In addition, format the answer inside \\boxed{}. For instance: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Also, the final answer should be enclosed within \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Additionally, ensure the answer is in \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Furthermore, the final answer needs to be formatted inside \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Also, the answer itself must be enclosed in \\boxed{}. For instance: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Ensure the answer is formatted inside \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Additionally, the final answer must be placed inside \\boxed{}. For instance: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Make sure the answer is enclosed in \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
    "Lastly, format the answer within \\boxed{}. For example: <think>\nreasoning process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>.",
)


def cot_instruction(row: dict[str, Any], rng: random.Random) -> str | None:
    """The instruction V-Triune appends to ``row``'s prompt; ``None`` for any other row."""
    model = vtriune_model(row)
    if model is None or model["verifier"] != "mathverify":
        return None
    if model.get("format_ratio") == 0:
        return rng.choice(FREEFORM_FIRST) + rng.choice(FREEFORM_SECOND)
    return rng.choice(CLOSEFORM_FIRST) + rng.choice(CLOSEFORM_SECOND)


def _longest(sentences: tuple[str, ...], tokenizer: Any) -> str:
    return max(
        sentences, key=lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
    )


def with_longest_cot(row: dict[str, Any], pool: CotPool, tokenizer: Any) -> dict[str, Any]:
    """``row`` with the pool's longest instruction (in ``tokenizer``'s tokens, sentence by
    sentence): what a rollout engine's prompt budget must make room for."""
    if pool == "none" or cot_instruction(row, random.Random(0)) is None:
        return row
    model = vtriune_model(row) or {}
    first, second = (
        (FREEFORM_FIRST, FREEFORM_SECOND)
        if model.get("format_ratio") == 0
        else (CLOSEFORM_FIRST, CLOSEFORM_SECOND)
    )
    instruction = _longest(first, tokenizer) + _longest(second, tokenizer)
    return {**row, "prompt": _appended(row["prompt"], "\n\n" + instruction)}


def _appended(prompt: Any, suffix: str) -> Any:
    """``prompt`` with ``suffix`` at the end of its last message (a string, or a list of content
    parts, which gets one more text part); a last message without content is left alone."""
    if isinstance(prompt, str):
        return prompt + suffix
    if not isinstance(prompt, list) or not prompt or not isinstance(prompt[-1], dict):
        return prompt
    last = dict(prompt[-1])
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = content + suffix
    elif isinstance(content, list):
        last["content"] = [*content, {"type": "text", "text": suffix}]
    else:
        return prompt
    return [*prompt[:-1], last]


def with_cot(row: dict[str, Any], pool: CotPool, rng: random.Random) -> dict[str, Any]:
    """``row`` itself, or a copy whose prompt ends in ``"\\n\\n"`` + an instruction drawn from
    ``pool`` (the row in the data set is never changed)."""
    if pool == "none":
        return row
    instruction = cot_instruction(row, rng)
    if instruction is None:
        return row
    return {**row, "prompt": _appended(row["prompt"], "\n\n" + instruction)}
