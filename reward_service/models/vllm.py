"""A ``bt`` model served by a vLLM server: each batch goes to its ``POST /classify``.

raas still formats and tokenises (the tokenizer at ``path``), so token budgets, the
``max_input_tokens`` check and the chat template are the same as for a local model; vLLM gets
token ids and does its own continuous batching on its GPUs. The request asks for raw scores::

    {"model": "<remote_model>", "input": [[ids…], …], "use_activation": false}

and the answer holds one entry per input, in ``index`` order::

    {"data": [{"index": 0, "label": …, "probs": [score], "num_classes": 1}, …], …}

``use_activation: false`` matters: with it vLLM returns the score itself, and raas applies
sigmoid(score − bias). Older servers that ignore the field return an activated value instead,
which cannot be told apart from a score: use a vLLM whose ``/classify`` accepts
``use_activation``. Newer vLLM versions name the field ``logits``; both are read. A server that
cannot be reached (or answers 502/503/504) gives ``unavailable``; other failures ``error``.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from reward_service.contract.errors import ModelUnavailableError
from reward_service.http.outbound import AcyclicClient
from reward_service.models.base import Item
from reward_service.models.bt import TextRM
from reward_service.models.config import ModelSpec
from reward_service.models.loading import load_tokenizer


class VLLMServerScorer(TextRM):
    """A text RM whose forward pass is an HTTP call (run on the model's executor thread)."""

    def __init__(self, spec: ModelSpec, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        assert spec.remote_url is not None
        self.url = spec.remote_url.rstrip("/") + "/classify"
        self.client = AcyclicClient(timeout=httpx.Timeout(spec.remote_timeout_s, connect=5.0))

    @classmethod
    def load(cls, spec: ModelSpec) -> VLLMServerScorer:
        return cls(spec, load_tokenizer(spec))

    def request(self, items: list[Item]) -> dict[str, Any]:
        body: dict[str, Any] = {"input": [item.data for item in items], "use_activation": False}
        if self.spec.remote_model is not None:
            body["model"] = self.spec.remote_model
        return body

    def forward(self, items: list[Item]) -> list[float]:
        try:
            response = self.client.post(self.url, json=self.request(items))
        except httpx.TransportError as exc:
            error = f"vLLM server {self.url}: {type(exc).__name__}: {exc}"
            raise ModelUnavailableError(error) from exc
        if response.status_code in (502, 503, 504):
            raise ModelUnavailableError(f"vLLM server {self.url}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise RuntimeError(
                f"vLLM server {self.url}: HTTP {response.status_code} {response.text[:500]}"
            )
        return scores(response.json(), len(items))

    def close(self) -> None:
        self.client.close()


def scores(payload: Any, expected: int) -> list[float]:
    """The one score per input from a ``/classify`` answer, in input order."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise RuntimeError(
            f"vLLM answered {len(data) if isinstance(data, list) else 'no'} "
            f"results for {expected} inputs"
        )
    out: list[float | None] = [None] * expected
    for entry in data:
        values = entry.get("probs", entry.get("logits"))
        index = entry.get("index")
        if not isinstance(index, int) or not 0 <= index < expected or not isinstance(values, list):
            raise RuntimeError(f"vLLM answered a malformed result: {str(entry)[:200]}")
        if len(values) != 1:
            raise RuntimeError(f"a BT reward model has one output; vLLM returned {len(values)}")
        out[index] = float(values[0])
    if any(value is None or not math.isfinite(value) for value in out):
        raise RuntimeError("vLLM answered duplicate indices or non-finite scores")
    return [value for value in out if value is not None]
