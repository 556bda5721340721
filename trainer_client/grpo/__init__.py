"""``raas-train``: a small GRPO trainer (torch) that overlaps raas rewards with the rollout.

``GRPOTrainer`` is imported on first use, so ``raas-train --help`` answers without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer_client.grpo.config import GRPOConfig

if TYPE_CHECKING:
    from trainer_client.grpo.trainer import GRPOTrainer

__all__ = ["GRPOConfig", "GRPOTrainer"]


def __getattr__(name: str) -> Any:
    if name == "GRPOTrainer":
        from trainer_client.grpo.trainer import GRPOTrainer

        return GRPOTrainer
    raise AttributeError(name)
