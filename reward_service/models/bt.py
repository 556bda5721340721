"""``bt``: a Bradley–Terry reward model, a sequence classifier with one output.

The conversation (prompt as the user turn, response as the reply) is chat-formatted with the
tokenizer's template and scored by ``AutoModelForSequenceClassification``; the reward is
sigmoid(score − bias), so a score equal to the bias maps to 0.5, and the raw score is returned in
``details`` for trainers that normalise per group themselves.

Padding: transformers pools each row at its last token that is not ``pad_token_id``, which is
right for left and right padding alike; position ids are passed from the attention mask so that
absolute-position models see a left-padded row unshifted. A batch scores every row exactly as
an unbatched forward pass would (tests check 1e-5 in float32).
"""

from __future__ import annotations

import inspect
from typing import Literal

import torch
from transformers import (
    AutoModelForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.task import Task
from reward_service.models.base import (
    Item,
    chat_ids,
    check_length,
    ids_bytes,
    pad,
    positions,
)
from reward_service.models.config import ModelSpec
from reward_service.models.loading import load_tokenizer, load_weights, resolve_device


class TextRM:
    """Preparation shared by the local and the remote (vLLM) BT model."""

    def __init__(self, spec: ModelSpec, tokenizer: PreTrainedTokenizerBase) -> None:
        self.spec, self.tokenizer = spec, tokenizer
        self.side: Literal["left", "right"] = (
            "left" if tokenizer.padding_side == "left" else "right"
        )

    def prepare(self, task: Task) -> Item:
        ids = chat_ids(self.tokenizer, task.prompt, task.response)
        if not ids:
            raise InvalidInputError("the formatted sample has no tokens to score")
        check_length(self.spec, len(ids))
        return Item(len(ids), ids, ids_bytes(ids))


class BTScorer(TextRM):
    """A local sequence-classification reward model."""

    def __init__(
        self, spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel
    ) -> None:
        super().__init__(spec, tokenizer)
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = int(model.config.get_text_config().pad_token_id)
        self.takes_positions = "position_ids" in inspect.signature(model.forward).parameters

    @classmethod
    def load(cls, spec: ModelSpec) -> BTScorer:
        device = resolve_device(spec)
        tokenizer = load_tokenizer(spec)
        model = load_weights(AutoModelForSequenceClassification, spec, device)
        labels = model.config.num_labels
        if labels != 1:
            raise ValueError(f"a Bradley–Terry RM has one output (num_labels=1), not {labels}")
        text_config = model.config.get_text_config()
        if text_config.pad_token_id is None:  # transformers pools on it; without one, batches fail
            text_config.pad_token_id = tokenizer.pad_token_id
        return cls(spec, tokenizer, model)

    def forward(self, items: list[Item]) -> list[float]:
        ids, mask = pad([item.data for item in items], self.pad_id, self.side)
        inputs = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
        if self.takes_positions:
            inputs["position_ids"] = positions(mask).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        return [float(x) for x in logits[:, 0].float().cpu()]
