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
    # (every row tokenized once at start; a vision-language policy must set it, image tokens
    # included). A longer prompt is an error, never truncated.
    max_prompt_tokens: int | None = None
    # prompts sampled in one generate call (transformers: left-padded; vLLM: one request
    # list): more keeps the device busier, fewer overlaps rewards sooner (a group is sent when
    # its call returns)
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

    # V-Triune's recipe (off by default; `raas-train --help` and the README give its values):
    # learning-rate warm-up, linear over this many steps from lr/warmup to lr (V-Triune: 5% of
    # the steps); the same lr for every optimizer step of one rollout step
    lr_warmup_steps: int = 0
    # parameters left untrained: comma-separated presets (Qwen2/2.5-VL's names, V-Triune's
    # lr_freeze values: "vit" = visual.blocks, visual.patch_embed; "connector" = visual.merger)
    # or dotted name patterns (fnmatch wildcards) matched at any depth; V-Triune: "vit,connector"
    freeze: str = ""
    # "vtriune": V-Triune's CoT instruction pool, one drawn at random and appended to the last
    # user message of each mathverify row (its free-form pool when its format_ratio is 0)
    cot_prompts: Literal["none", "vtriune"] = "none"
    # IoU threshold of V-Triune rows' detection ("dynamic" as Orsta was trained, "average", or
    # a number): its DET_IOU_THRESHOLD, what the server's RAAS_JUDGE_IOU_THRESHOLD sets for /judge
    vtriune_iou_threshold: str = "dynamic"
    # how raas's per-source summary judges reflection and correctness: "route" leaves it to the
    # server's routes (else raas's whole words, correct ≥ 0.5); "vtriune": V-Triune's monitoring
    # (its words as substrings, correct = 1.0), for rows that name their verifier too
    reflection: Literal["route", "raas", "vtriune"] = "route"

    # Memory: LoRA adapters (needs peft: the [lora] extra) of this rank on lora_targets
    # (peft's target_modules; "all-linear": every linear layer but the output); 0: full
    # fine-tuning. Only the adapters are trained and saved (final/ is a peft adapter).
    lora_rank: int = 0
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"
    # recompute activations in the backward pass instead of keeping them (transformers'
    # gradient_checkpointing_enable, non-reentrant): ~1/3 more compute, activations ~1 layer's
    gradient_checkpointing: bool = False
    # a policy in bfloat16 (CUDA) is updated through float32 copies of its trained weights
    # (16–18 bytes per trained parameter, not 8): in bf16 alone an update of ~lr = 1e-6 rounds
    # away for nearly every weight. --no-fp32-master-weights saves the memory and loses them.
    fp32_master_weights: bool = True

    rollout: Literal["auto", "hf", "vllm"] = "auto"  # auto: vLLM on CUDA when installed
    vllm_gpu_memory_utilization: float = 0.3
    device: str = "auto"
    # the policy's precision: auto = bfloat16 on CUDA, float32 elsewhere
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    seed: int = 0
    tensorboard: bool = True
    save_model: bool = True
    torch_threads: int | None = None

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError("group_size must be at least 2: advantages are relative to a group")
        if not 0 <= self.eps_low < 1 or self.eps_high < 0:
            raise ValueError("need 0 ≤ eps_low < 1 and eps_high ≥ 0")
        counts = (
            self.steps,
            self.prompts_per_step,
            self.updates_per_step,
            self.micro_batch_size,
            self.prompts_per_generate,
        )
        if min(counts) < 1:
            raise ValueError(
                "steps, prompts_per_step, updates_per_step, micro_batch_size, "
                "prompts_per_generate ≥ 1"
            )
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ValueError("max_prompt_tokens must be at least 1 (or unset: the data's longest)")
        if self.max_refill_rounds < 0:
            raise ValueError("max_refill_rounds must not be negative")
        if self.lr_warmup_steps < 0 or self.lora_rank < 0:
            raise ValueError("lr_warmup_steps and lora_rank must not be negative")
        iou_threshold(self.vtriune_iou_threshold)  # a bad value fails here, not mid-run
        if self.lora_rank:
            # vLLM's weight sync sends the model's own parameters: a LoRA policy would need its
            # adapters merged at every step, so LoRA rolls out with transformers
            if self.rollout == "vllm":
                raise ValueError("LoRA (lora_rank > 0) rolls out with transformers: --rollout hf")
            self.rollout = "hf"


def iou_threshold(value: str) -> str | float:
    """``dynamic``/``average``, or a number in (0, 1]: V-Triune's detection IoU threshold."""
    if value in ("dynamic", "average"):
        return value
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number <= 1:
        raise ValueError(f"vtriune_iou_threshold: 'dynamic', 'average' or (0, 1]: {value!r}")
    return number
