"""The compatibility endpoints' settings (``RAAS_OPENRLHF_*``, ``RAAS_JUDGE_*``): pydantic only.

Apart from :class:`reward_service.settings.Settings`, so the core knows no trainer's protocol:
``create_app`` builds these (from the environment unless given) and hands them to the compat
endpoints alone. The prefix is the core's, ``RAAS_``, so a deployment sets both the same way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CompatSettings(BaseSettings):
    """Names map to ``RAAS_<NAME>``. Read where the router's app is built, so a bad value stops
    the start; the endpoints then check that the verifier, format and threshold named exist."""

    model_config = SettingsConfigDict(env_prefix="RAAS_", frozen=True)

    # V-Triune's DET_IOU_THRESHOLD: a number must be one of its thresholds (checked at start)
    judge_iou_threshold: Literal["average", "dynamic"] | float = "dynamic"
    openrlhf_verifier: str = "math"  # what OpenRLHF's /get_reward labels are checked with
    openrlhf_format: str | None = None
    openrlhf_format_weight: float = Field(0.1, ge=0, allow_inf_nan=False)
