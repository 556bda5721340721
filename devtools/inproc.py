"""An app built in this process (``create_app(settings, metrics)``) with a fresh metrics registry,
served through Starlette's ``TestClient`` (its lifespan runs: the pool starts and stops). For
tests that need no process of their own: metrics read exactly, no server to share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from reward_service.http.app import create_app
from reward_service.metrics import Metrics
from reward_service.settings import Settings


@contextmanager
def app_client(**overrides: Any) -> Iterator[tuple[TestClient, CollectorRegistry]]:
    """One pool child and no spare unless ``overrides`` say otherwise."""
    registry = CollectorRegistry()
    settings = Settings(**{"pool_workers": 1, "pool_spares": 0, **overrides})
    with TestClient(create_app(settings, Metrics(registry))) as client:
        yield client, registry
