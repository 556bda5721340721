"""What is trained and how fast: frozen modules, LoRA adapters, gradient checkpointing, and the
learning-rate warm-up (V-Triune's recipe and the memory options of :class:`.GRPOConfig`).

- **Frozen modules**: ``freeze`` names presets or dotted patterns; a parameter is frozen when a
  pattern matches a run of whole components of its name at any depth, so ``visual.merger``
  freezes ``visual.merger.mlp.0.weight`` in Qwen2.5-VL's old layout and
  ``model.visual.merger.mlp.0.weight`` in transformers ≥ 4.52's (and under peft's
  ``base_model.model.`` prefix), never ``visual_merger2.x``. Presets are V-Triune's
  ``lr_freeze`` values with its Qwen2/2.5-VL names: ``vit`` = ``visual.blocks``,
  ``visual.patch_embed``; ``connector`` = ``visual.merger``; ``llm`` is not offered (RL of the
  vision tower alone is not V-Triune's recipe). A pattern that matches nothing is an error — a
  typo must not silently train the whole model — and so is freezing every parameter.
- **LoRA** (peft, imported only when asked): adapters of rank ``lora_rank`` on
  ``lora_targets``; the base weights are frozen by peft, then ``freeze`` applies on top (an
  adapter inside a frozen module stays frozen too).
- **Gradient checkpointing**: transformers' ``gradient_checkpointing_enable`` (non-reentrant,
  which also works when the inputs need no grad, as with LoRA or a frozen embedding).
- **Warm-up**: the learning rate of rollout step s is lr · min(1, (s + 1)/W) — linear, reaching
  lr at step W − 1. verl (V-Triune) starts at s/W, so its first step trains at lr 0 and throws
  its rollouts away; here every step trains.

- **Master weights**: a bfloat16 policy (CUDA) is updated through float32 copies of its trained
  weights (:class:`MasterWeights`); LoRA adapters are float32 already (peft upcasts them).

AdamW holds two moments for the trained parameters only: freezing and LoRA shrink the
optimizer state as well as the gradients.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from typing import Any

import torch

from trainer_client.grpo.config import GRPOConfig

logger = logging.getLogger("raas-train")

FREEZE_PRESETS: dict[str, tuple[str, ...]] = {
    "vit": ("visual.blocks", "visual.patch_embed"),
    "connector": ("visual.merger",),
}


def freeze_patterns(spec: str) -> tuple[str, ...]:
    """``"vit,connector"`` → the dotted patterns it stands for (presets expanded)."""
    patterns: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if item:
            patterns.extend(FREEZE_PRESETS.get(item, (item,)))
    return tuple(patterns)


def matches(name: str, pattern: str) -> bool:
    """Whether ``pattern``'s components match a run of whole components of ``name``."""
    parts, wanted = name.split("."), pattern.split(".")
    return any(
        all(fnmatch.fnmatchcase(part, want) for part, want in zip(parts[i:], wanted, strict=False))
        for i in range(len(parts) - len(wanted) + 1)
    )


def frozen_names(names: Iterable[str], patterns: tuple[str, ...]) -> list[str]:
    """The names any pattern matches; ``ValueError`` for a pattern matching none of them."""
    names = list(names)
    unmatched = [p for p in patterns if not any(matches(name, p) for name in names)]
    if unmatched:
        raise ValueError(f"freeze: no parameter matches {unmatched}")
    return [name for name in names if any(matches(name, p) for p in patterns)]


def freeze(model: torch.nn.Module, spec: str) -> list[str]:
    """Parameters ``spec`` names stop requiring grad; returns their names."""
    patterns = freeze_patterns(spec)
    if not patterns:
        return []
    parameters = dict(model.named_parameters())
    names = frozen_names(parameters, patterns)
    for name in names:
        parameters[name].requires_grad_(False)
    if not any(p.requires_grad for p in parameters.values()):
        raise ValueError(f"freeze {spec!r} leaves no parameter to train")
    logger.info("frozen: %d parameter tensors (%s)", len(names), ", ".join(patterns))
    return names


def add_lora(model: Any, config: GRPOConfig) -> Any:
    """``model`` with LoRA adapters (a peft model): only the adapters train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ImportError("lora_rank > 0 needs peft: pip install 'raas-client[lora]'") from None
    targets: str | list[str] = config.lora_targets
    if targets != "all-linear":
        targets = [t.strip() for t in config.lora_targets.split(",") if t.strip()]
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    return get_peft_model(model, lora)


def enable_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass (train mode only: generation,
    in eval mode, keeps its KV cache). transformers 5 renamed the method; 4.x has the old one."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def is_checkpointing(model: Any) -> bool:
    if hasattr(model, "is_activation_checkpointing"):
        return bool(model.is_activation_checkpointing)
    return bool(model.is_gradient_checkpointing)


def prepare_model(model: Any, config: GRPOConfig) -> Any:
    """LoRA, frozen modules and gradient checkpointing, as ``config`` asks."""
    if config.lora_rank:
        model = add_lora(model, config)
    freeze(model, config.freeze)
    if config.gradient_checkpointing:
        enable_checkpointing(model)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("trained parameters: %d of %d (%.2f%%)", trained, total, 100 * trained / total)
    return model


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The share of the learning rate at rollout step ``step`` (0-based)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


class MasterWeights:
    """AdamW on float32 copies of the trained parameters of a low-precision (bfloat16) model,
    each step's result rounded back into the model.

    Why: bfloat16 keeps 8 significant bits, so a weight of 0.02 moves only by steps of 1.2e-4;
    AdamW's update is about lr per element, and at lr 1e-6 nearly every update of a bfloat16
    weight rounds away (one step of a bf16 toy model moves 2 % of its weights, an fp32 one all
    of them: ``tests/trainer_client/test_grpo_recipe.py``). The float32 copy accumulates them.
    Memory per trained parameter: 2 (bf16 weight) + 4 (fp32 copy) + 8 (fp32 moments) + the
    gradient, 2 bytes in bf16 until the step turns it into 4 in fp32: 16–18 bytes, against 8
    for AdamW on the bf16 weights themselves."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> None:
        self.params = params
        self.master = [p.detach().float().clone() for p in params]
        # one tensor at a time: no foreach buffers the size of the whole model
        self.inner = torch.optim.AdamW(self.master, lr=lr, weight_decay=weight_decay, foreach=False)
        self.param_groups = self.inner.param_groups

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for param, master in zip(self.params, self.master, strict=True):
            master.grad = None if param.grad is None else param.grad.float()
            param.grad = None  # the bf16 gradient goes as its fp32 copy comes
        self.inner.step()
        for param, master in zip(self.params, self.master, strict=True):
            param.copy_(master)
            master.grad = None


Optimizer = torch.optim.Optimizer | MasterWeights


def make_optimizer(model: torch.nn.Module, config: GRPOConfig) -> Optimizer:
    """AdamW on the parameters that train — through float32 master weights when some are in a
    lower precision and ``fp32_master_weights``."""
    trained = [p for p in model.parameters() if p.requires_grad]
    lr, decay = config.learning_rate, config.weight_decay
    if config.fp32_master_weights and any(p.dtype != torch.float32 for p in trained):
        return MasterWeights(trained, lr, decay)
    return torch.optim.AdamW(trained, lr=lr, weight_decay=decay)


def set_learning_rate(optimizer: Optimizer, config: GRPOConfig, step: int) -> float:
    """The warm-up: rollout step ``step``'s learning rate, set for all its updates."""
    lr = config.learning_rate * warmup_factor(step, config.lr_warmup_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
