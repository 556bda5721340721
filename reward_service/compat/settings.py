"""The compatibility endpoints' settings (``RAAS_OPENRLHF_*``, ``RAAS_JUDGE_*``): pydantic only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class CompatSettings(BaseSettings):
    """Mixed into :class:`reward_service.settings.Settings`; names map to ``RAAS_<NAME>``."""

    # V-Triune's DET_IOU_THRESHOLD: a number must be one of its thresholds (checked at start)
    judge_iou_threshold: Literal["average", "dynamic"] | float = "dynamic"
    openrlhf_verifier: str = "math"  # what OpenRLHF's /get_reward labels are checked with
    openrlhf_format: str | None = None
    openrlhf_format_weight: float = Field(0.1, ge=0, allow_inf_nan=False)
