"""Sampling G completions of a prompt: vLLM on CUDA, transformers ``generate`` elsewhere.

Both return token ids (the loss is computed on exactly the tokens sampled, never on a
re-tokenisation of decoded text) and the decoded text (what raas scores). A completion that
ended on EOS keeps that token, so the policy is also trained on when to stop.

:meth:`HFGenerator.generate_batch` samples several prompts in one ``generate`` call (left
padding), with each prompt's image inputs (pixel values, Qwen2-VL's ``image_grid_thw``, …);
:meth:`VLLMGenerator.generate_batch` gives vLLM the decoded images as ``multi_modal_data``. A
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
from trainer_client.grpo.vision import ImageInputs, Prompt, row_images, stack_images


@dataclass(frozen=True, slots=True)
class Rollout:
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    truncated: bool  # stopped by max_new_tokens, not by EOS
    images: ImageInputs | None = None  # the prompt's image inputs (CPU), None without images


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

    def generate(self, prompt_ids: list[int], n: int) -> list[Rollout]:
        return self.generate_batch([Prompt(prompt_ids)], n)[0]

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
    longest prompt of the data unless ``--max-prompt-tokens`` says; a vision-language policy
    must say, image tokens included) plus ``max_new_tokens``; a vision-language engine takes up
    to ``images_per_prompt`` images a prompt (the most any row has).
    vLLM needs CUDA: the CPU suite checks the vLLM calls against the real releases' API
    (``tests/trainers/test_vllm.py``) and this class's logic against a stand-in module
    (``tests/trainer_client/test_vllm_rollout.py``).
    """

    def __init__(
        self,
        config: GRPOConfig,
        model: PreTrainedModel,
        max_prompt_tokens: int,
        images_per_prompt: int = 0,
    ) -> None:
        from vllm import LLM, SamplingParams

        public = vllm_engine.choose_path()
        vllm_engine.prepare(public)
        self.max_prompt_tokens = max_prompt_tokens
        dtype = str(model.dtype).removeprefix("torch.")
        args = vllm_engine.engine_args(
            config,
            max_prompt_tokens=max_prompt_tokens,
            dtype=dtype,
            public=public,
            images_per_prompt=images_per_prompt,
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
        return self.generate_batch([Prompt(prompt_ids)], n)[0]

    def generate_batch(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """All prompts in one ``generate`` call (vLLM schedules them together), ``n`` samples
        each. A prompt with images goes as its unexpanded tokens (one placeholder per image)
        with the decoded images in ``multi_modal_data``: vLLM's processor expands the
        placeholders itself, and must arrive at the tokens the policy's processor gave, which
        the update recomputes log-probabilities on."""
        from vllm.inputs import TokensPrompt

        for prompt in prompts:
            self._check_length(prompt)
        requests = [
            TokensPrompt(prompt_token_ids=p.engine_ids, multi_modal_data={"image": list(p.pixels)})
            if p.pixels and p.engine_ids is not None
            else TokensPrompt(prompt_token_ids=p.ids)
            for p in prompts
        ]
        params = self.params.clone()
        params.n = n
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [self._rollouts(p, out) for p, out in zip(prompts, outputs, strict=True)]

    def _check_length(self, prompt: Prompt) -> None:
        if len(prompt.ids) > self.max_prompt_tokens:
            unset = "" if prompt.pixels else ", or unset it for the longest prompt of the data"
            raise ValueError(
                f"a prompt of {len(prompt.ids)} tokens is longer than --max-prompt-tokens "
                f"({self.max_prompt_tokens}), which sized vLLM's max_model_len; raise it{unset}"
            )

    @staticmethod
    def _rollouts(prompt: Prompt, output: Any) -> list[Rollout]:
        expanded = list(output.prompt_token_ids or [])
        if prompt.pixels and expanded != prompt.ids:
            raise ValueError(
                f"vLLM expanded an image prompt to {len(expanded)} tokens where the policy's "
                f"processor gives {len(prompt.ids)} (or other tokens): the update would recompute "
                "log-probabilities on another prompt than the one sampled; vLLM and transformers "
                "must resize the images alike (the same preprocessor_config.json)"
            )
        return [
            Rollout(
                prompt.ids, list(c.token_ids), c.text, c.finish_reason == "length", prompt.images
            )
            for c in output.outputs
        ]

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
    """vLLM when asked, or on ``auto`` when CUDA and vLLM are both there; else transformers."""
    if not (config.rollout == "vllm" or (config.rollout == "auto" and _vllm_usable())):
        return HFGenerator(model, tokenizer, config)
    if not vision:
        budget = config.max_prompt_tokens or longest_prompt(rows, tokenizer, config.cot_prompts)
        return VLLMGenerator(config, model, budget)
    if config.max_prompt_tokens is None:
        raise ValueError(
            "a vision-language policy on vLLM needs --max-prompt-tokens: a prompt's length "
            "depends on its images' sizes (Qwen2.5-VL: one token per 28×28 pixels), which are "
            "not read ahead of the run; give the longest prompt with its image tokens"
        )
    images = max((len(row_images(row)) for row in rows), default=0)
    return VLLMGenerator(config, model, config.max_prompt_tokens, images_per_prompt=images)


def _vllm_usable() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True
