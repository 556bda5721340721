"""Schemathesis against the OpenAPI of a real router and a real rule worker (keys and token on):
no server error, and every answer matches the documented status codes, types and schemas.

Each operation is fuzzed with its own bounded number of examples; the list of operations is
written here and checked against the served document, so a new route cannot go unfuzzed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devtools.live import LiveServer

KEY, TOKEN = "trainer-key-0123456789", "internal-token-0123456789"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 40  # per operation: bounded for CI's two cores
LIMITS = {"RAAS_POOL_WORKERS": "1", "RAAS_SAMPLE_TIMEOUT_S": "2"}
ROUTER_OPERATIONS = [
    ("POST", "/reward"),
    ("POST", "/get_reward"),
    ("POST", "/judge"),
    ("POST", "/slime"),
    ("POST", "/verify"),
    ("POST", "/seed_session"),
    ("POST", "/close_session"),
    ("GET", "/v1/verifiers"),
    ("GET", "/v1/routes"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]
CATCH_ALL = '[{"data_source": "*", "verifier": "math"}]'
WORKER_OPERATIONS = [
    ("POST", "/v1/tasks"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


def load(live: LiveServer, secret: str) -> BaseSchema:
    return schemathesis.openapi.from_url(
        f"{live.url}/openapi.json", headers={"Authorization": f"Bearer {secret}"}
    )


@pytest.fixture(scope="module")
def router_api() -> Iterator[BaseSchema]:
    # routes on: a fuzzed sample without a verifier takes the catch-all (math) path
    live = LiveServer.start(RAAS_API_KEYS=KEY, RAAS_ROUTES=CATCH_ALL, **LIMITS)
    yield load(live, KEY)
    live.stop()


@pytest.fixture(scope="module")
def worker_api() -> Iterator[BaseSchema]:
    live = LiveServer.start("worker", "rules", RAAS_INTERNAL_TOKEN=TOKEN, **LIMITS)
    yield load(live, TOKEN)
    live.stop()


def operations(schema: BaseSchema) -> set[tuple[str, str]]:
    return {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}


def fuzz(schema: BaseSchema, method: str, path: str, secret: str) -> None:
    @given(case=schema[path][method].as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)

    check()


def test_every_operation_is_fuzzed(router_api: BaseSchema, worker_api: BaseSchema) -> None:
    assert operations(router_api) == set(ROUTER_OPERATIONS)
    assert operations(worker_api) == set(WORKER_OPERATIONS)


@pytest.mark.parametrize(("method", "path"), ROUTER_OPERATIONS)
def test_router(router_api: BaseSchema, method: str, path: str) -> None:
    fuzz(router_api, method, path, KEY)


@pytest.mark.parametrize(("method", "path"), WORKER_OPERATIONS)
def test_worker(worker_api: BaseSchema, method: str, path: str) -> None:
    fuzz(worker_api, method, path, TOKEN)
