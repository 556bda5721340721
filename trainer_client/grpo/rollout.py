"""Sampling G completions of a prompt: vLLM on CUDA, transformers ``generate`` elsewhere.

Both return token ids (the loss is computed on exactly the tokens sampled, never on a
re-tokenisation of decoded text) and the decoded text (what raas scores). A completion that
ended on EOS keeps that token, so the policy is also trained on when to stop.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer_client.grpo.config import GRPOConfig


@dataclass(frozen=True, slots=True)
class Rollout:
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    truncated: bool  # stopped by max_new_tokens, not by EOS


class Generator(Protocol):
    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]: ...

    def sync_weights(self, model: PreTrainedModel) -> None:
        """Make the next rollouts come from ``model``'s current weights."""


class HFGenerator:
    """transformers ``generate`` on the training model itself (CPU, or CUDA without vLLM)."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: GRPOConfig
    ) -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    @torch.no_grad()
    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]:
        device = self.model.device
        input_ids = torch.tensor([prompt_ids] * n, device=device)
        self.model.eval()
        output = self.model.generate(  # type: ignore[operator]
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=True,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            top_k=0,  # sample the policy's own distribution: no top-k truncation
            max_new_tokens=self.config.max_new_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
        )
        rollouts = []
        for row in output[:, len(prompt_ids) :].tolist():
            ended = row.index(self.eos_id) + 1 if self.eos_id in row else None
            completion = row[:ended] if ended is not None else row
            text = str(self.tokenizer.decode(completion, skip_special_tokens=True))
            rollouts.append(Rollout(prompt_ids, completion, text, ended is None))
        return rollouts

    def sync_weights(self, model: PreTrainedModel) -> None:
        """Nothing to do: generation runs on the training model."""


class VLLMGenerator:
    """A vLLM engine colocated on the training GPU; weights pushed in after each update.

    The engine runs in this process (``external_launcher``), so the trainer can hand it new
    weights in place, as TRL's colocate mode does. vLLM needs CUDA: the CPU suite runs this class
    against a stand-in module with vLLM's interface (``tests/trainer_client/test_vllm_rollout``).
    """

    def __init__(self, config: GRPOConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        from vllm import LLM, SamplingParams

        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        self.llm = LLM(
            model=config.model,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            distributed_executor_backend="external_launcher",
            seed=config.seed,
            enable_prefix_caching=True,  # the G rollouts of a prompt share its prefix
        )
        self.params = SamplingParams(
            temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens
        )
        self.tokenizer = tokenizer

    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]:
        from vllm.inputs import TokensPrompt

        params = self.params.clone()
        params.n = n
        request = TokensPrompt(prompt_token_ids=prompt_ids)
        output = self.llm.generate([request], params, use_tqdm=False)[0]
        return [
            Rollout(prompt_ids, list(c.token_ids), c.text, c.finish_reason == "length")
            for c in output.outputs
        ]

    def sync_weights(self, model: PreTrainedModel) -> None:
        engine_model = _engine_model(self.llm)
        for name, param in model.named_parameters():
            engine_model.load_weights([(name, param.data)])
        self.llm.reset_prefix_cache()  # cached prefixes hold the old weights' KV


def _engine_model(llm: Any) -> Any:
    """The model inside an in-process vLLM engine. vLLM has no public "load these weights" for
    a colocated engine; this is the path TRL 1.16's colocate mode uses
    (``trl/generation/vllm_generation.py``), the one place raas depends on vLLM's internals."""
    return llm.llm_engine.model_executor.driver_worker.model_runner.model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_generator(
    config: GRPOConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> Generator:
    """vLLM when asked, or on ``auto`` when CUDA and vLLM are both there; else transformers."""
    if config.rollout == "vllm" or (config.rollout == "auto" and _vllm_usable()):
        return VLLMGenerator(config, tokenizer)
    return HFGenerator(model, tokenizer, config)


def _vllm_usable() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True
