"""What the OpenRLHF drivers share: OpenRLHF 0.11.2's own rollout path on a CPU machine.

Everything here is OpenRLHF's or transformers' code, but for two stand-ins, each for a part
that needs a GPU (and a chat template in Qwen's layout, since no model is downloaded):
- ``vllm``: OpenRLHF pins vllm 0.29.0, which has no CPU build (it pins a CUDA torch). The
  modules below import ``SamplingParams``, ``TokensPrompt`` and ``random_uuid`` at import time
  and none of the code under test calls them, so ``vllm`` is a module holding those names,
  each raising if called (as OpenRLHF's own tests do with a ``MagicMock``).
- the policy: :class:`ScriptedEngine` answers ``generate`` (the one method OpenRLHF's agent
  executors call on their vLLM engine) with scripted responses, tokenised as a model emits
  them: the response's tokens, then the end-of-turn token.

The tokenizer is transformers' real ``Qwen2Tokenizer`` (Qwen's pre-tokeniser, byte-level
decoder and special tokens) over a byte vocabulary, so ``decode(encode(text)) == text`` as with
Qwen's own; the vision processor is transformers' ``Qwen3VLProcessor`` (what OpenRLHF loads for
Qwen3.5) over ``Qwen2VLImageProcessorPil``, whose image placeholder the processor expands to
one ``<|image_pad|>`` per merged patch. Its video slot is left out (:class:`ImageOnlyProcessor`):
transformers' video processors need torchvision, which has no CPU build for this torch here.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen's layout: messages between <|im_start|>role and <|im_end|>, an image as
# <|vision_start|><|image_pad|><|vision_end|> (the processor expands the pad)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _absent(name: str) -> Callable[..., Any]:
    def call(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"vllm.{name} called: vLLM is not installed (it needs a GPU)")

    return call


def stub_vllm() -> None:
    """``vllm``'s import-time names, so ``openrlhf.trainer.ray.vllm_engine`` and
    ``openrlhf.trainer.ppo_utils.samples_generator`` import."""
    vllm = types.ModuleType("vllm")
    vllm.__version__ = "0.29.0"
    for name in ("SamplingParams", "AsyncEngineArgs", "AsyncLLMEngine"):
        setattr(vllm, name, _absent(name))
    inputs, utils = types.ModuleType("vllm.inputs"), types.ModuleType("vllm.utils")
    inputs.TokensPrompt = _absent("inputs.TokensPrompt")
    utils.random_uuid = _absent("utils.random_uuid")
    vllm.inputs, vllm.utils = inputs, utils
    sys.modules.update({"vllm": vllm, "vllm.inputs": inputs, "vllm.utils": utils})


def qwen_tokenizer() -> Any:
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    alphabet = sorted(set(pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = Qwen2Tokenizer(
        vocab={char: index for index, char in enumerate(alphabet)},
        merges=[],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def qwen_vl_processor() -> Any:
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLProcessor

    class ImageOnlyProcessor(Qwen3VLProcessor):
        """Qwen3-VL's processor without its video slot (see the module docstring)."""

        def __init__(self, image_processor: Any, tokenizer: Any, chat_template: str) -> None:
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template)

    processor = ImageOnlyProcessor(Qwen2VLImageProcessorPil(), qwen_tokenizer(), CHAT_TEMPLATE)
    for name in ("pad_token", "pad_token_id", "eos_token", "eos_token_id"):  # as get_tokenizer
        setattr(processor, name, getattr(processor.tokenizer, name))
    return processor


def image(seed: int = 0, size: int = 112) -> Any:
    """A plain RGB picture: 112×112 is 8×8 patches of 14, merged 2×2 into 16 image tokens."""
    from PIL import Image

    return Image.new("RGB", (size, size), (40 * seed % 256, 90, 160))


@functools.cache
def openrlhf_module(relative: str, name: str) -> ModuleType:
    """An OpenRLHF source file loaded alone: ``openrlhf/datasets/__init__.py`` imports HF
    ``datasets`` for the SFT and reward-model datasets, which the prompt path does not use."""
    import openrlhf

    path = Path(openrlhf.__file__).parent / relative
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_prompt(data: dict[str, Any], args: Any, tokenizer: Any) -> tuple[str, Any]:
    """``PromptDataset``'s per-row step: the chat-templated prompt and the label."""
    dataset = openrlhf_module("datasets/prompts_dataset.py", "openrlhf_prompts_dataset")
    template = tokenizer.apply_chat_template if args.data.apply_chat_template else None
    prompt, label = dataset.preprocess_data(
        data, args.data.input_template, args.data.input_key, args.data.label_key, template
    )
    return prompt, label


class ScriptedEngine:
    """The policy's stand-in: each ``generate`` answers the next scripted turn, cut at
    ``sampling_params.max_tokens`` as vLLM cuts it."""

    def __init__(self, tokenizer: Any, turns: Sequence[str]) -> None:
        self.tokenizer, self.turns, self.prompts = tokenizer, list(turns), []

    async def generate(
        self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None
    ) -> Any:
        self.prompts.append(list(prompt_token_ids))
        text = self.turns.pop(0)
        tokenizer = getattr(self.tokenizer, "tokenizer", self.tokenizer)
        ids = tokenizer(text=text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        cut = ids[: sampling_params.max_tokens]
        finish = "stop" if len(cut) == len(ids) else "length"
        text = tokenizer.decode(cut, skip_special_tokens=True)
        output = SimpleNamespace(token_ids=cut, text=text, finish_reason=finish, logprobs=None)
        return SimpleNamespace(outputs=[output])


def executor_for(remote_url: list[str] | None, agent_func_path: str | None) -> Any:
    """The executor a ``RolloutRayActor`` makes: the agent file's ``AgentExecutor``, loaded by
    OpenRLHF's ``_load_agent_executor``, else ``SingleTurnAgentExecutor(remote_url)``."""
    if agent_func_path:
        from openrlhf.trainer.ray.vllm_engine import _load_agent_executor

        return _load_agent_executor(agent_func_path)
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    return SingleTurnAgentExecutor(remote_url)


def execute(
    executor: Any,
    prompt: str,
    label: Any,
    turns: Sequence[str],
    tokenizer: Any,
    images: Any = None,
    max_length: int = 4096,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """One sample through ``executor.execute`` as ``RolloutRayActor.generate_responses`` runs it
    (``max_new_tokens``: ``--rollout.max_new_tokens``, ``max_length``: ``--data.max_len``)."""
    engine = ScriptedEngine(tokenizer, turns)
    params = SimpleNamespace(max_tokens=max_new_tokens, logprobs=None)  # SamplingParams' reads
    output: dict[str, Any] = asyncio.run(
        executor.execute(
            prompt=prompt,
            label=label,
            sampling_params=params,
            max_length=max_length,
            hf_tokenizer=tokenizer,
            llm_engine=engine,
            images=images,
        )
    )
    return output


def experiences(outputs: list[dict[str, Any]], tokenizer: Any, max_length: int = 8192) -> Any:
    """The executors' outputs through OpenRLHF's experience path: one ``Experience`` each
    (``SamplesGenerator._process_response_into_experience``), concatenated into a micro-batch
    (``RemoteExperienceMaker.split_rollout_samples``), split again (``NaiveReplayBuffer.append``)
    and re-batched (``NaiveReplayBuffer.sample``). Returns the split items, or the error."""
    from openrlhf.trainer.ppo_utils.experience import (
        Experience,
        make_experience_batch,
        split_experience_batch,
    )
    from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator

    generator = SamplesGenerator.__new__(SamplesGenerator)  # the method reads nothing of self
    singles = [generator._process_response_into_experience(o, max_len=max_length) for o in outputs]
    batch = Experience.concat_experiences(singles, tokenizer.pad_token_id)
    items = split_experience_batch(batch)
    make_experience_batch(items)
    return items


def rollouts(executor: Any, args: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset rows (keys as ``args.data``; ``turns``: the policy's scripted turns) through
    ``executor`` and the experience path. A vision processor tokenises when
    ``--data.max_images_per_prompt`` > 0 (a VLM run), Qwen's tokenizer otherwise."""
    vision = args.data.max_images_per_prompt > 0
    tokenizer = qwen_vl_processor() if vision else qwen_tokenizer()
    outputs, report = [], []
    for row in rows:
        prompt, label = build_prompt(row, args, tokenizer)
        images = [image()] if row.get(args.data.image_key) else None
        output = execute(
            executor,
            prompt,
            label,
            row["turns"],
            tokenizer,
            images,
            row.get("max_len", args.data.max_len),
            args.rollout.max_new_tokens,
        )
        outputs.append(output)
        query = tokenizer.decode(output["observation_tokens"], skip_special_tokens=False)
        report.append(
            {
                "prompt": prompt,
                "query": query,
                "reward": _plain(output["reward"]),
                "extra_logs": _plain(output["extra_logs"]),
            }
        )
    result: dict[str, Any] = {"samples": report}
    try:
        items = experiences(outputs, tokenizer)
    except (ValueError, TypeError, KeyError) as exc:
        result["experience_error"] = f"{type(exc).__name__}: {exc}"
    else:
        result["items"] = [item_view(item) for item in items]
    return result


def _plain(value: Any) -> Any:
    """JSON for what an executor returns (floats, lists, tensors in the agent's logs)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def item_view(item: Any) -> dict[str, Any]:
    """What the trainer holds for one sample: reward, score and the logged ``info``."""
    return {
        "reward": None if item.rewards is None else item.rewards.flatten().tolist(),
        "score": None if item.scores is None else item.scores.flatten().tolist(),
        "info": {key: value.flatten().tolist() for key, value in item.info.items()},
    }
