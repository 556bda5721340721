"""Everything ``raas-train`` can be told, with the reason for each default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RewardMode = Literal["overlap", "after", "none"]


@dataclass
class GRPOConfig:
    model: str  # a local Hugging Face model directory (its tokenizer beside it)
    data: str  # JSONL or Parquet rows: a prompt plus its reward spec
    reward_url: str = "http://127.0.0.1:8000"
    output_dir: str = "runs/raas-train"

    steps: int = 100
    prompts_per_step: int = 16
    group_size: int = 8  # G rollouts per prompt: the group GRPO normalises within
    max_new_tokens: int = 512
    # vLLM's max_model_len is this + max_new_tokens; unset: the longest prompt of the data
    # (every row tokenized once at start). A longer prompt is an error, never truncated.
    max_prompt_tokens: int | None = None
    # prompts sampled in one generate call (left-padded; transformers rollouts): more keeps the
    # device busier, fewer overlaps rewards sooner (a group is sent when its call returns)
    prompts_per_generate: int = 1
    temperature: float = 1.0  # sample the policy as it is: GRPO needs diverse groups
    top_p: float = 1.0

    learning_rate: float = 1e-6
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # DAPO's clip-higher: a wider upper bound lets unlikely-but-good tokens grow (entropy does
    # not collapse); the lower bound stays at PPO's 0.2.
    eps_low: float = 0.2
    eps_high: float = 0.28
    # No KL penalty by default (DAPO, Dr. GRPO): with verifiable rewards the reference anchor
    # mostly slows learning. beta > 0 keeps a frozen copy of the initial policy (k3 estimator).
    beta: float = 0.0
    advantage_eps: float = 1e-6  # (r − mean) / (std + eps): a finite advantage for tiny std
    updates_per_step: int = 1  # optimizer steps per rollout batch (> 1: the clip matters)
    micro_batch_size: int = 64  # sequences per forward/backward; the loss is still one token-mean
    # DAPO's dynamic sampling: a group whose rollouts are all right or all wrong (accuracy; a
    # format term must not keep an all-wrong group) has ~zero advantage for every token and only
    # dilutes the token-mean; it is dropped, and more prompts are rolled out in up to
    # max_refill_rounds extra rounds until prompts_per_step groups have signal (DAPO's
    # max_num_gen_batches). Each round samples the missing groups at the keep rate so far (at
    # most prompts_per_step), so 3 rounds fill, in expectation, a step whose groups have signal
    # as rarely as 1 in 4, and cap its generation at 4× a plain step's; past them the update
    # takes what there is.
    dynamic_sampling: bool = True
    max_refill_rounds: int = 3
    # How rewards are fetched: "overlap" sends each group as soon as it is generated, while
    # later groups are generated; "after" sends the whole rollout at the end (the usual way,
    # for comparison); "none" draws random rewards locally (the no-reward floor, for benchmarks).
    reward_mode: RewardMode = "overlap"

    rollout: Literal["auto", "hf", "vllm"] = "auto"  # auto: vLLM on CUDA when installed
    vllm_gpu_memory_utilization: float = 0.3
    device: str = "auto"
    seed: int = 0
    tensorboard: bool = True
    save_model: bool = True
    torch_threads: int | None = None

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError("group_size must be at least 2: advantages are relative to a group")
        if not 0 <= self.eps_low < 1 or self.eps_high < 0:
            raise ValueError("need 0 ≤ eps_low < 1 and eps_high ≥ 0")
        counts = (self.steps, self.prompts_per_step, self.updates_per_step,
                  self.micro_batch_size, self.prompts_per_generate)  # fmt: skip
        if min(counts) < 1:
            raise ValueError(
                "steps, prompts_per_step, updates_per_step, micro_batch_size, "
                "prompts_per_generate ≥ 1"
            )
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ValueError("max_prompt_tokens must be at least 1 (or unset: the data's longest)")
        if self.max_refill_rounds < 0:
            raise ValueError("max_refill_rounds must not be negative")
