"""``bmas``: token-embedding similarity of a response's final answer to its reference
(REWARD_SPEC, Mixed-R1).

The response side is its final answer by the rule every verifier reads it by
(``_text.final_answer``): never the thinking nor the ``<think>``/``<answer>`` tags, which no
reference holds and which would dilute precision (an answer identical to the reference would score
below 1). A response with no final answer — its thinking never closed (a truncated rollout), or
several different answers (a hedge) — is not embedded: its raw result is the reason, which the
verifier reports.

Only the model's tokenizer and its input-embedding table are kept (the rest of the network is
dropped after loading): BMAS compares token embeddings directly, no forward pass through the
transformer. A batch is a loop of small cosine matrices on the model's device.
"""

from __future__ import annotations

import orjson
import torch
from transformers import AutoModel, PreTrainedTokenizerBase

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.task import Task
from reward_service.models.base import Item, check_length, ids_bytes
from reward_service.models.config import ModelSpec
from reward_service.models.loading import load_tokenizer, resolve_device, resolve_dtype
from reward_service.verifiers._text import final_answer, unanswered

PrecisionRecall = tuple[float, float] | None  # None: one side has no tokens
Raw = PrecisionRecall | str  # str: why the response has no final answer (_text's TRUNCATED…)


def similarity(table: torch.Tensor, response: list[int], reference: list[int]) -> torch.Tensor:
    """The cosine matrix S (response × reference), 1 wherever the token ids are equal."""
    a, b = _unit(table, response), _unit(table, reference)
    same = torch.tensor(response)[:, None] == torch.tensor(reference)[None, :]
    cosine: torch.Tensor = a @ b.T
    return torch.where(same.to(a.device), 1.0, cosine)


def _unit(table: torch.Tensor, ids: list[int]) -> torch.Tensor:
    rows = table[torch.tensor(ids, device=table.device)].float()
    unit: torch.Tensor = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit  # a zero row has cosine 0 with everything


class BMASScorer:
    def __init__(
        self, spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, table: torch.Tensor
    ) -> None:
        self.spec, self.tokenizer, self.table = spec, tokenizer, table
        self.special = frozenset(int(i) for i in tokenizer.all_special_ids)

    @classmethod
    def load(cls, spec: ModelSpec) -> BMASScorer:
        device = resolve_device(spec)
        tokenizer = load_tokenizer(spec)
        model = AutoModel.from_pretrained(
            spec.path,
            dtype=resolve_dtype(spec, device),
            local_files_only=True,
            trust_remote_code=spec.trust_remote_code,
        )
        table = model.get_input_embeddings().weight.detach().to(device)
        del model  # only the embedding table is needed
        return cls(spec, tokenizer, table)

    def _ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [int(i) for i in ids if int(i) not in self.special]

    def prepare(self, task: Task) -> Item:
        reference_text = orjson.loads(task.ground_truth)
        if not isinstance(reference_text, str):
            raise InvalidInputError("bmas needs the reference text as a string ground truth")
        answer = final_answer(task.response)
        if answer is None:
            return Item(0, unanswered(task.response))  # nothing to embed
        response, reference = self._ids(answer), self._ids(reference_text)
        longest = max(len(response), len(reference))
        check_length(self.spec, longest)
        return Item(longest, (response, reference), ids_bytes(response, reference))

    def forward(self, items: list[Item]) -> list[Raw]:
        results: list[Raw] = []
        with torch.inference_mode():
            for item in items:
                if isinstance(item.data, str):  # no final answer: the reason
                    results.append(item.data)
                    continue
                response, reference = item.data
                if not response or not reference:
                    results.append(None)
                    continue
                s = similarity(self.table, response, reference)
                pr = torch.stack([s.max(dim=1).values.mean(), s.max(dim=0).values.mean()])
                p, r = pr.double().cpu().tolist()
                results.append((p, r))
        return results
