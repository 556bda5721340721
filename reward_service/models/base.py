"""What every model kind shares: the ``Scorer`` interface, chat formatting, padding.

A scorer turns a task into an :class:`Item` (tokens counted, on a preparation thread), runs a
batch of items in one forward pass (on the model's executor thread) and maps a raw result to a
reward. Only the batcher decides which items share a forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import torch
from transformers import PreTrainedTokenizerBase

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.task import Task
from reward_service.models.config import ModelSpec

RawT = TypeVar("RawT")


@dataclass(frozen=True, slots=True)
class Item:
    """One task ready for a forward pass; ``tokens`` is what padding is charged on, ``nbytes``
    what it holds while it waits (the batcher's queue is bounded in both)."""

    tokens: int
    data: Any
    nbytes: int = 0


def ids_bytes(*rows: Sequence[int]) -> int:
    """Memory of token-id lists: a pointer and an int object per id, and the list itself."""
    return sum(64 + 36 * len(row) for row in rows)


class Scorer(Protocol[RawT]):
    spec: ModelSpec

    def prepare(self, task: Task) -> Item:
        """Tokenise (and decode images); raises ``InvalidInputError`` for an unusable input."""
        ...

    def forward(self, items: list[Item]) -> list[RawT]:
        """Score a batch; raw results in the order of ``items``, which the task's model verifier
        (``VerifierSpec.fn``) maps to rewards."""
        ...


def messages(prompt: str | None, response: str) -> list[dict[str, Any]]:
    """The conversation an RM scores: the prompt as the user turn, the response as the reply.

    Without a prompt there is no user turn: a BT reward model scores a response *to* something,
    so trainers should send the prompt.
    """
    turns: list[dict[str, Any]] = [] if prompt is None else [{"role": "user", "content": prompt}]
    return [*turns, {"role": "assistant", "content": response}]


def chat_ids(tokenizer: PreTrainedTokenizerBase, prompt: str | None, response: str) -> list[int]:
    """Token ids of the chat-formatted conversation.

    With a chat template the template supplies every special token (so none are added again);
    without one the text is ``prompt + "\\n\\n" + response`` with the tokenizer's own special
    tokens (BOS/EOS as it adds them), which is how most plain RM checkpoints were trained.
    """
    if tokenizer.chat_template:
        try:
            text = tokenizer.apply_chat_template(messages(prompt, response), tokenize=False)
        except Exception as exc:  # jinja raises its own errors for conversations it rejects
            raise InvalidInputError(
                f"the model's chat template rejected the sample: {exc}"
            ) from exc
        ids = tokenizer(str(text), add_special_tokens=False)["input_ids"]
    else:
        text = response if prompt is None else f"{prompt}\n\n{response}"
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return [int(i) for i in ids]


def check_length(spec: ModelSpec, tokens: int) -> None:
    if tokens > spec.max_input_tokens:
        raise InvalidInputError(
            f"{tokens} tokens; model {spec.name!r} accepts at most {spec.max_input_tokens}"
        )


def pad(
    rows: Sequence[Sequence[int]], pad_id: int, side: Literal["left", "right"]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` padded to the longest row on ``side``."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[index, span] = torch.tensor(row, dtype=torch.long)
        mask[index, span] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token, whatever the padding side
    (absolute-position models would otherwise see a left-padded row shifted)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)
