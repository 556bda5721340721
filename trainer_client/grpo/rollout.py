"""Sampling G completions of a prompt: vLLM on CUDA, transformers ``generate`` elsewhere.

Both return token ids (the loss is computed on exactly the tokens sampled, never on a
re-tokenisation of decoded text) and the decoded text (what raas scores). A completion that
ended on EOS keeps that token, so the policy is also trained on when to stop.

:meth:`HFGenerator.generate_batch` samples several prompts in one ``generate`` call (left
padding), with each prompt's image inputs (pixel values, Qwen2-VL's ``image_grid_thw``, …); a
rollout keeps its prompt's image inputs, so log-probabilities are recomputed on what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer_client.grpo import vllm_engine
from trainer_client.grpo.config import GRPOConfig
from trainer_client.grpo.data import longest_prompt
from trainer_client.grpo.vision import ImageInputs, stack_images


@dataclass(frozen=True, slots=True)
class Rollout:
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    truncated: bool  # stopped by max_new_tokens, not by EOS
    images: ImageInputs | None = None  # the prompt's image inputs (CPU), None without images


@dataclass(frozen=True, slots=True)
class Prompt:
    ids: list[int]
    images: ImageInputs | None = None


class Generator(Protocol):
    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]: ...

    def generate_batch(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """``n`` rollouts of each prompt, in the prompts' order."""

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

    @torch.no_grad()
    def generate_batch(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """One ``generate`` call for ``n`` rollouts of each prompt: prompts left-padded to one
        width (their completions then start at the same column), each repeated ``n`` times
        with its image inputs."""
        device = self.model.device
        width = max(len(p.ids) for p in prompts)
        rows = [[self.pad_id] * (width - len(p.ids)) + p.ids for p in prompts for _ in range(n)]
        mask = [[0] * (width - len(p.ids)) + [1] * len(p.ids) for p in prompts for _ in range(n)]
        images = stack_images([p.images for p in prompts for _ in range(n)], device)
        self.model.eval()
        output = self.model.generate(  # type: ignore[operator]
            input_ids=torch.tensor(rows, device=device),
            attention_mask=torch.tensor(mask, device=device),
            **images,
            do_sample=True,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            top_k=0,
            max_new_tokens=self.config.max_new_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
        )
        completions = output[:, width:].tolist()
        return [
            [self._rollout(p, completions[i * n + j]) for j in range(n)]
            for i, p in enumerate(prompts)
        ]

    def _rollout(self, prompt: Prompt, row: list[int]) -> Rollout:
        """A sampled row cut after its EOS (what follows is padding)."""
        ended = row.index(self.eos_id) + 1 if self.eos_id in row else None
        completion = row[:ended] if ended is not None else row
        text = str(self.tokenizer.decode(completion, skip_special_tokens=True))
        return Rollout(prompt.ids, completion, text, ended is None, prompt.images)

    def sync_weights(self, model: PreTrainedModel) -> None:
        """Nothing to do: generation runs on the training model."""


class VLLMGenerator:
    """A vLLM engine on the training GPU; the policy's weights pushed in after each update.

    How the weights get there, and so whether the engine runs in this process, depends on the
    installed vLLM (:mod:`.vllm_engine`). Its ``max_model_len`` is ``max_prompt_tokens`` (the
    longest prompt of the data unless ``--max-prompt-tokens`` says) plus ``max_new_tokens``.
    vLLM needs CUDA: the CPU suite checks the vLLM calls against the real releases' API
    (``tests/trainers/test_vllm.py``) and this class's logic against a stand-in module
    (``tests/trainer_client/test_vllm_rollout.py``).
    """

    def __init__(self, config: GRPOConfig, model: PreTrainedModel, max_prompt_tokens: int) -> None:
        from vllm import LLM, SamplingParams

        public = vllm_engine.choose_path()
        vllm_engine.prepare(public)
        self.max_prompt_tokens = max_prompt_tokens
        dtype = str(model.dtype).removeprefix("torch.")
        args = vllm_engine.engine_args(
            config, max_prompt_tokens=max_prompt_tokens, dtype=dtype, public=public
        )
        self.llm = LLM(**args)
        self.weights: vllm_engine.WeightSync = (
            vllm_engine.PublicWeightSync(self.llm)
            if public
            else vllm_engine.InternalWeightSync(self.llm)
        )
        self.params = SamplingParams(
            temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens
        )

    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]:
        from vllm.inputs import TokensPrompt

        if len(prompt_ids) > self.max_prompt_tokens:
            raise ValueError(
                f"a prompt of {len(prompt_ids)} tokens is longer than --max-prompt-tokens "
                f"({self.max_prompt_tokens}), which sized vLLM's max_model_len; raise it, or "
                "leave it unset for the longest prompt of the data"
            )
        params = self.params.clone()
        params.n = n
        request = TokensPrompt(prompt_token_ids=prompt_ids)
        output = self.llm.generate([request], params, use_tqdm=False)[0]
        return [
            Rollout(prompt_ids, list(c.token_ids), c.text, c.finish_reason == "length")
            for c in output.outputs
        ]

    def generate_batch(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """Text prompts one by one (vLLM batches internally); image inputs are not passed to
        vLLM yet (its ``multi_modal_data`` path is to come): refused, not dropped."""
        if any(p.images for p in prompts):
            raise NotImplementedError(
                "vision-language rollouts with vLLM are not supported yet: use --rollout hf"
            )
        return [self.generate(p.ids, n) for p in prompts]

    def sync_weights(self, model: PreTrainedModel) -> None:
        self.weights.push(model)
        self.llm.reset_prefix_cache()  # cached prefixes hold the old weights' KV


def make_generator(
    config: GRPOConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, Any]],
    vision: bool = False,
) -> Generator:
    """vLLM when asked, or on ``auto`` when CUDA and vLLM are both there; else transformers.
    A vision-language policy samples with transformers (vLLM's image path is to come)."""
    if vision:
        if config.rollout == "vllm":
            raise ValueError("--rollout vllm does not take vision-language policies yet: use hf")
        return HFGenerator(model, tokenizer, config)
    if config.rollout == "vllm" or (config.rollout == "auto" and _vllm_usable()):
        budget = config.max_prompt_tokens or longest_prompt(rows, tokenizer, config.cot_prompts)
        return VLLMGenerator(config, model, budget)
    return HFGenerator(model, tokenizer, config)


def _vllm_usable() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True
