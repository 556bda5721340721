"""``bmas``: token-embedding similarity of a response to its reference (REWARD_SPEC, Mixed-R1).

Only the model's tokenizer and its input-embedding table are kept (the rest of the network is
dropped after loading): BMAS compares token embeddings directly, no forward pass through the
transformer. A batch is a loop of small cosine matrices on the model's device.
"""

from __future__ import annotations

import orjson
import torch
from transformers import AutoModel, PreTrainedTokenizerBase

from reward_service.contract import Task
from reward_service.errors import InvalidInputError
from reward_service.model_spec import ModelSpec
from reward_service.models.base import Item, check_length, ids_bytes
from reward_service.models.loading import load_tokenizer, resolve_device, resolve_dtype

PrecisionRecall = tuple[float, float] | None  # None: one side has no tokens


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
        response, reference = self._ids(task.response), self._ids(reference_text)
        longest = max(len(response), len(reference))
        check_length(self.spec, longest)
        return Item(longest, (response, reference), ids_bytes(response, reference))

    def forward(self, items: list[Item]) -> list[PrecisionRecall]:
        results: list[PrecisionRecall] = []
        with torch.inference_mode():
            for item in items:
                response, reference = item.data
                if not response or not reference:
                    results.append(None)
                    continue
                s = similarity(self.table, response, reference)
                pr = torch.stack([s.max(dim=1).values.mean(), s.max(dim=0).values.mean()])
                p, r = pr.double().cpu().tolist()
                results.append((p, r))
        return results
