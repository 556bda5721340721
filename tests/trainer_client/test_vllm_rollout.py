"""``VLLMGenerator`` against a stand-in with vLLM's interface (vLLM itself needs CUDA): what it
asks the engine for, how it reads completions, and how it pushes new weights in."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from trainer_client.grpo.config import GRPOConfig
from trainer_client.grpo.rollout import Rollout, VLLMGenerator


@dataclass
class Completion:
    token_ids: list[int]
    text: str
    finish_reason: str


@dataclass
class SamplingParams:
    temperature: float
    top_p: float
    max_tokens: int
    n: int = 1

    def clone(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, self.n)


@dataclass
class EngineModel:
    loaded: list[str] = field(default_factory=list)

    def load_weights(self, weights: list[tuple[str, torch.Tensor]]) -> None:
        self.loaded += [name for name, _ in weights]


class LLM:
    """vLLM's ``LLM``, as far as the generator uses it."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.requests, self.resets = kwargs, [], 0
        self.engine_model = EngineModel()
        runner = types.SimpleNamespace(model=self.engine_model)
        worker = types.SimpleNamespace(model_runner=runner)
        self.llm_engine = types.SimpleNamespace(
            model_executor=types.SimpleNamespace(driver_worker=worker)
        )

    def generate(self, requests: list[Any], params: SamplingParams, use_tqdm: bool) -> list[Any]:
        self.requests.append((requests, params))
        outputs = [
            Completion([7, 8, 2], "ab", "stop"),
            Completion([9] * params.max_tokens, "ccc", "length"),
        ][: params.n]
        return [types.SimpleNamespace(outputs=outputs)]

    def reset_prefix_cache(self) -> None:
        self.resets += 1


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams  # type: ignore[attr-defined]
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


@pytest.mark.usefixtures("stand_in")
def test_generation_asks_for_g_samples_of_the_prompt_tokens_and_keeps_their_ids() -> None:
    config = GRPOConfig(
        model="/models/policy", data="rows.jsonl", max_new_tokens=3, temperature=0.7, top_p=0.9
    )
    generator = VLLMGenerator(config, tokenizer=None)  # type: ignore[arg-type]
    rollouts = generator.generate([1, 2, 3], n=2)
    assert rollouts == [
        Rollout([1, 2, 3], [7, 8, 2], "ab", truncated=False),
        Rollout([1, 2, 3], [9, 9, 9], "ccc", truncated=True),
    ]
    llm: Any = generator.llm
    ((requests, params),) = llm.requests
    assert requests == [{"prompt_token_ids": [1, 2, 3]}]
    assert (params.n, params.temperature, params.top_p, params.max_tokens) == (2, 0.7, 0.9, 3)
    assert generator.params.n == 1  # the template is cloned, not changed
    assert llm.kwargs["model"] == "/models/policy"
    assert llm.kwargs["distributed_executor_backend"] == "external_launcher"


@pytest.mark.usefixtures("stand_in")
def test_new_weights_reach_the_engine_and_the_prefix_cache_is_dropped() -> None:
    generator = VLLMGenerator(GRPOConfig(model="/m", data="rows.jsonl"), tokenizer=None)  # type: ignore[arg-type]
    policy = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    generator.sync_weights(policy)  # type: ignore[arg-type]
    llm: Any = generator.llm
    assert llm.engine_model.loaded == [name for name, _ in policy.named_parameters()]
    assert llm.resets == 1
