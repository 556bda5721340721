from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from devtools.live import LiveServer
from reward_service.contract.schemas import RewardResponse
from reward_service.verifiers import load_verifiers

VECTORS = Path(__file__).parent / "vectors" / "rewards.jsonl"
SHARED_DEADLINE_S = 2.0


def pytest_configure(config: pytest.Config) -> None:
    """Every ``asyncio.run`` in the suite runs on uvloop, the loop ``raas serve`` ships with;
    tests that take the ``any_loop`` fixture run on asyncio's own loop as well."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    load_verifiers()


@pytest.fixture(params=["uvloop", "asyncio"])
def any_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "asyncio":
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        yield str(request.param)
    finally:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def load_vectors() -> list[dict[str, Any]]:
    return [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """``raas serve`` as shipped (a warm spare included), but for a 2 s deadline: the tests'
    hanging samples cost 2 s."""
    live = LiveServer.start(RAAS_SAMPLE_TIMEOUT_S=str(SHARED_DEADLINE_S), RAAS_POOL_SPARES="1")
    yield live
    live.stop()


def reward_answers_match_the_schema(response: httpx.Response) -> None:
    """Every ``/reward`` answer a test receives is checked against ``RewardResponse``: the shape
    the router builds and the one it documents cannot drift apart."""
    request = response.request
    if request.method == "POST" and request.url.path == "/reward" and response.status_code == 200:
        response.read()
        RewardResponse.model_validate_json(response.content)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    hooks = {"response": [reward_answers_match_the_schema]}
    with httpx.Client(base_url=server.url, timeout=60, event_hooks=hooks) as http:
        yield http


@pytest.fixture(autouse=True)
def _process_environment() -> Iterator[None]:
    """Each test starts from the session's process environment: code under test may set
    variables for an engine it starts (raas-train's vLLM path sets ``LOCAL_RANK``), and a later
    test must not inherit them (accelerate reads ``LOCAL_RANK`` as a distributed launch)."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)
