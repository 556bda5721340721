"""The trainer side of raas: a reward client and adapters for the trainers people use.

Importing this package pulls in neither torch nor FastAPI (``trainer_client.grpo``, the GRPO
trainer, needs torch and is imported only when asked for; ``trainer_client.verl_manager`` imports
verl and is loaded by verl alone).
"""

from __future__ import annotations

from trainer_client.client import (
    ClientStats,
    RequestRejectedError,
    RewardClient,
    RewardServiceError,
    RewardUnavailableError,
    ScoredBatch,
    ScoredSample,
)
from trainer_client.retry import RetryPolicy
from trainer_client.trl import AsyncRaasRewardFunction, RaasRewardFunction
from trainer_client.verl import compute_score

__all__ = [
    "AsyncRaasRewardFunction",
    "ClientStats",
    "RaasRewardFunction",
    "RequestRejectedError",
    "RetryPolicy",
    "RewardClient",
    "RewardServiceError",
    "RewardUnavailableError",
    "ScoredBatch",
    "ScoredSample",
    "compute_score",
]
