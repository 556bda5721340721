"""Service settings, read from ``RAAS_*`` environment variables (or passed in by tests)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Every knob of the router and its embedded rule pool; names map to ``RAAS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RAAS_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: str = "info"

    pool_workers: int = Field(default_factory=_usable_cores, ge=1, le=512)
    pool_spares: int = Field(1, ge=0, le=64)
    sample_timeout_s: float = Field(5.0, gt=0, le=600)
    worker_memory_mb: int = Field(4096, ge=128)
    worker_start_timeout_s: float = Field(120.0, gt=0)
    max_chunk: int = Field(32, ge=1, le=4096)

    max_response_chars: int = Field(65_536, ge=1)
    max_ground_truth_chars: int = Field(65_536, ge=1)
    max_samples: int = Field(65_536, ge=1)
    max_body_bytes: int = Field(512 * 1024 * 1024, ge=1024)

    metrics_max_sources: int = Field(256, ge=1)

    rule_workers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    remote_timeout_s: float = Field(300.0, gt=0)
    remote_attempts: int = Field(4, ge=1, le=20)
    remote_piece_size: int = Field(256, ge=1)

    @field_validator("rule_workers", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        """``RAAS_RULE_WORKERS=http://a:8001,http://b:8001`` (commas or whitespace)."""
        return value.replace(",", " ").split() if isinstance(value, str) else value
