"""Service settings, read from ``RAAS_*`` environment variables (or passed in by tests).

Pydantic only: this module and those it reads (``models.config``, ``route_spec``, ``schemas``,
``memory``) import nothing else (PyYAML for a routes file), so any role can read its settings
before it loads anything heavy. The compatibility endpoints' knobs (``RAAS_OPENRLHF_*``,
``RAAS_JUDGE_*``) are not here: ``compat.settings.CompatSettings`` reads them, built only where
those endpoints are served or checked (the app, ``raas serve``'s start, ``raas score``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reward_service.http.memory import default_ceiling_mb
from reward_service.models.config import ModelSpec, unique_names
from reward_service.routing.route_spec import MAX_ROUTES, Route, read_routes

PLACEHOLDER = "REPLACE-ME"  # what the deployment files hold until secrets are filled in


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Every knob of every role but the compat endpoints'; names map to ``RAAS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RAAS_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"

    # access (reward_service.http.auth): unset, nothing is asked for
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    internal_token: SecretStr | None = None
    metrics_need_key: bool = False

    # the HTTP server (reward_service.http.server): what one client can hold
    max_connections: int = Field(1024, ge=1)  # beyond: 503 at once (uvicorn limit_concurrency)
    keep_alive_s: float = Field(5.0, gt=0)
    header_timeout_s: float = Field(10.0, gt=0)  # a request's headers must arrive within this
    body_idle_timeout_s: float = Field(10.0, gt=0)  # a body that stalls this long gets 408
    body_timeout_s: float = Field(600.0, gt=0)  # a whole body must arrive within this
    body_min_bytes_per_s: int = Field(1024, ge=1)  # past the grace, a slower body gets 408
    body_rate_grace_s: float = Field(5.0, ge=0)
    # SIGTERM: in-flight work may finish within this (the largest batch: 24–31 s, 2 children)
    shutdown_grace_s: float = Field(60.0, ge=0)
    # the router's RSS past which new work gets 503 + Retry-After
    # (reward_service.http.memory); 0: off
    memory_ceiling_mb: int = Field(default_factory=default_ceiling_mb, ge=0)

    # router processes behind the port (reward_service.http.supervisor): "auto" is one per 4 cores
    routers: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = "auto"
    # the rule pool (reward_service.pool) and its child processes: "worker" in three of these
    # names means a pool child (a worker is a remote service, ``raas worker``); the names stay,
    # since deployments set them
    pool_workers: int = Field(default_factory=usable_cores, ge=1, le=512)  # children
    pool_spares: int = Field(1, ge=0, le=64)
    sample_timeout_s: float = Field(5.0, gt=0, le=600)
    worker_memory_mb: int = Field(4096, ge=128)  # each child's address space (RLIMIT_AS)
    worker_start_timeout_s: float = Field(120.0, gt=0)  # a child's import and warm-up
    max_chunk: int = Field(1024, ge=1, le=4096)
    chunk_target_s: float = Field(0.02, gt=0, le=10)  # a chunk's estimated child time
    max_chunk_bytes: int = Field(1 << 20, ge=1024)
    max_queued_tasks: int = Field(1 << 18, ge=1)  # beyond this, requests get 429

    max_response_chars: int = Field(65_536, ge=1)
    max_ground_truth_chars: int = Field(65_536, ge=1)
    max_samples: int = Field(65_536, ge=1)
    max_body_bytes: int = Field(768 * 1024 * 1024, ge=1024)  # 65,536 long CoTs: 562 MiB
    max_prompt_chars: int = Field(65_536, ge=1)  # model verifiers (rm, bmas) read the prompt

    metrics_max_sources: int = Field(256, ge=1)
    metrics_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)

    idempotency_cache_size: int = Field(512, ge=0)  # 0 turns Idempotency-Key replay off
    idempotency_ttl_s: float = Field(300.0, gt=0)
    idempotency_cache_bytes: int = Field(256 * 1024 * 1024, ge=0)
    idempotency_max_entry_bytes: int = Field(64 * 1024 * 1024, ge=0)

    rule_workers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    remote_timeout_s: float = Field(300.0, gt=0)
    remote_attempts: int = Field(4, ge=1, le=20)
    remote_piece_size: int = Field(256, ge=1)
    # past its tries, a piece is retried this long after its first failure (waiting for a worker
    # to come back) before its samples are ``unavailable``
    remote_retry_budget_s: float = Field(30.0, ge=0)
    # a worker silent (no answer, not even to /readyz) past the sample deadline plus this has its
    # pieces sent to another worker as well
    remote_stall_margin_s: float = Field(2.0, gt=0)
    # "dns": each worker URL's name resolved to one worker per address (a headless Service's
    # pods, Compose's replicas), again every interval (reward_service.remote.discovery)
    remote_discovery: Literal["off", "dns"] = "off"
    remote_discovery_interval_s: float = Field(5.0, gt=0)

    models: list[ModelSpec] = Field(default_factory=list)
    model_workers: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # routing by task type (reward_service.routing.route_spec): a file path or inline JSON
    routes: Annotated[list[Route], NoDecode] = Field(default_factory=list, max_length=MAX_ROUTES)
    # response length in tokens in the summary and metrics: a tokenizer.json (or its folder)
    tokenizer: str | None = None

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        """``RAAS_MODELS='[{"name": "rm", "path": "/models/rm", "kind": "bt"}]'`` (JSON)."""
        return unique_names(value)

    @model_validator(mode="after")
    def _models_in_one_router(self) -> Settings:
        """Each router process would load every model of ``RAAS_MODELS`` onto the GPU."""
        if self.models and self.routers not in (1, "auto"):
            raise ValueError("RAAS_MODELS loads the models in each router process: RAAS_ROUTERS=1")
        return self

    @field_validator("routes", mode="before")
    @classmethod
    def _read_routes(cls, value: Any) -> Any:
        return read_routes(value)

    @field_validator("internal_token", "tokenizer", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("api_keys", "internal_token")
    @classmethod
    def _real_secrets(cls, value: Any) -> Any:
        """A short key is a guessable key; a placeholder from the deployment files is public."""
        secrets = value if isinstance(value, list) else [value]
        for secret in (s.get_secret_value() for s in secrets if s is not None):
            if len(secret) < 16:
                raise ValueError("API keys and the internal token need at least 16 characters")
            if secret.upper().startswith(PLACEHOLDER):
                raise ValueError(
                    f"a {PLACEHOLDER} placeholder is not a secret: generate one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        return value

    @field_validator("rule_workers", "model_workers", "api_keys", "metrics_sources", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        """``RAAS_RULE_WORKERS=http://a:8001,http://b:8001`` (commas or whitespace); the same
        for ``RAAS_API_KEYS`` and ``RAAS_METRICS_SOURCES``."""
        return value.replace(",", " ").split() if isinstance(value, str) else value
