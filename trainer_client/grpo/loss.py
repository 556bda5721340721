"""GRPO's advantages and its clipped, token-mean policy loss (DAPO's variant).

- Advantage of rollout i in its group: Aᵢ = (rᵢ − mean(r)) / (std(r) + ε), over the group's
  scored rollouts (std with Bessel's correction, as TRL); a rollout raas could not score
  (reward ``None``) gets no advantage and no tokens in the loss — masked, not punished.
- Per token t: ρ = π(t)/π_old(t); ℓ = −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A), plus
  β·(π_ref/π − log(π_ref/π) − 1) (the k3 KL estimator) when β > 0.
- Loss = Σ ℓ over every completion token of the batch / number of those tokens (token-mean:
  long responses weigh by their length, unlike GRPO's per-sequence mean; DAPO).
- A vision-language policy's forward gets each sequence's image inputs, the ones it was sampled
  with. An image placeholder the policy wrote in a completion (V-Triune's "spurious image
  tokens") has no image behind it: in the forward it is replaced by the pad token (else the
  model finds more placeholders than image features) and its position is out of the loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from trainer_client.grpo.vision import ImageInputs, stack_images


def group_advantages(rewards: list[float | None], eps: float) -> list[float | None]:
    """(r − mean)/(std + eps) within one group; ``None`` stays ``None``."""
    scored = [r for r in rewards if r is not None]
    if len(scored) < 2:
        return [None if r is None else 0.0 for r in rewards]
    mean = sum(scored) / len(scored)
    std = math.sqrt(sum((r - mean) ** 2 for r in scored) / (len(scored) - 1))
    return [None if r is None else (r - mean) / (std + eps) for r in rewards]


def has_signal(rewards: list[float | None]) -> bool:
    """At least two scored rollouts that differ: otherwise every advantage is 0."""
    scored = [r for r in rewards if r is not None]
    return len(scored) >= 2 and max(scored) > min(scored)


@dataclass(frozen=True, slots=True)
class Batch:
    """Right-padded prompt+completion sequences; ``completion_mask`` marks the scored tokens."""

    input_ids: Tensor  # (B, T)
    attention_mask: Tensor  # (B, T)
    completion_mask: Tensor  # (B, T−1): aligned with the logits predicting token t+1
    advantages: Tensor  # (B,)
    images: ImageInputs = field(default_factory=dict)  # the sequences' image inputs, stacked
    placeholders_masked: int = 0  # spurious image placeholders taken out of the completions


def make_batch(
    sequences: list[tuple[list[int], list[int], float]],
    pad_id: int,
    device: torch.device,
    images: Sequence[ImageInputs | None] = (),
    placeholders: frozenset[int] = frozenset(),
) -> Batch:
    """From (prompt ids, completion ids, advantage) triples; ``images`` (one entry per sequence)
    and the model's image ``placeholders`` for a vision-language policy."""
    width = max(len(p) + len(c) for p, c, _ in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    completion = torch.zeros((len(sequences), width - 1), dtype=torch.float32)
    masked = 0
    for row, (prompt, answer, _) in enumerate(sequences):
        ids[row, : len(prompt) + len(answer)] = torch.tensor(prompt + answer)
        attention[row, : len(prompt) + len(answer)] = 1
        completion[row, len(prompt) - 1 : len(prompt) + len(answer) - 1] = 1.0
        for offset, token in enumerate(answer):
            if token in placeholders:
                ids[row, len(prompt) + offset] = pad_id
                completion[row, len(prompt) + offset - 1] = 0.0
                masked += 1
    advantages = torch.tensor([a for _, _, a in sequences], dtype=torch.float32)
    return Batch(
        ids.to(device),
        attention.to(device),
        completion.to(device),
        advantages.to(device),
        stack_images(list(images), device),
        masked,
    )


def token_logprobs(model: torch.nn.Module, batch: Batch) -> Tensor:
    """log π(token t+1 | ≤ t) for every position, shape (B, T−1)."""
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    logits = model(**inputs, **batch.images).logits
    logits = logits[:, :-1].float()
    targets = batch.input_ids[:, 1:].unsqueeze(-1)
    return torch.log_softmax(logits, dim=-1).gather(-1, targets).squeeze(-1)


def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    batch: Batch,
    eps_low: float,
    eps_high: float,
    denominator: float,
    beta: float = 0.0,
    ref_logp: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Σ per-token clipped loss / ``denominator`` (the token count of the whole mini-batch, so
    micro-batches accumulate to one exact token-mean)."""
    mask = batch.completion_mask
    advantages = batch.advantages.unsqueeze(-1)
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    stats = {"clip_tokens": float((((ratio - clipped).abs() > 0) * mask).sum())}
    if beta > 0 and ref_logp is not None:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + beta * kl
        stats["kl_sum"] = float((kl.detach() * mask).sum())
    loss = (per_token * mask).sum() / denominator
    return loss, stats
