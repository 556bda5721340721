"""The exception tree in ``reward_service.contract.errors``' docstring is the whole tree, and each
error reaching a handler is answered by what it carries, in one place."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

import reward_service
from reward_service.contract import errors
from reward_service.contract.errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientGoneError,
    InvalidInputError,
    OverloadedError,
    RequestError,
    UnknownNameError,
    detail,
)
from reward_service.http.ops import add_ops_routes
from reward_service.metrics import Metrics
from reward_service.settings import Settings


def subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= subclasses(sub)
    return found


def test_every_error_raas_raises_on_purpose_is_in_the_tree() -> None:
    for module in pkgutil.walk_packages(reward_service.__path__, "reward_service."):
        importlib.import_module(module.name)
    named = {cls.__name__ for cls in subclasses(errors.RaasError)}
    assert {"SpecError", "TableError", "Rejected", "RequestError"} <= named
    missing = [name for name in sorted(named) if f"``{name}``" not in (errors.__doc__ or "")]
    assert not missing, f"RaasError subclasses missing from errors' docstring: {missing}"


def app_raising(exc: Exception) -> FastAPI:
    """An app with raas's ops (its one error handler) whose one route raises ``exc``."""
    settings = Settings()
    app = FastAPI()
    add_ops_routes(app, settings, Metrics(CollectorRegistry()), lambda: ({}, True))

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "status", "detail", "headers"),
    [
        (
            RequestError([detail(["samples", 0, "response"], "missing", "missing")]),
            422,
            [{"loc": ["samples", 0, "response"], "msg": "missing", "type": "missing"}],
            {},
        ),
        (
            OverloadedError("9 tasks are queued (at most 8)", 7),
            429,
            [{"loc": [], "msg": "9 tasks are queued (at most 8)", "type": "overloaded"}],
            {"retry-after": "7"},
        ),
        (
            BodyTooLargeError(1024),
            413,
            [{"loc": ["body"], "msg": "body over 1024 bytes", "type": "too_large"}],
            {},
        ),
        (
            BodyTimeoutError(),
            408,
            [
                {
                    "loc": ["body"],
                    "msg": "the request body stalled, came too slowly or took too long; "
                    "the connection is closed",
                    "type": "timeout",
                }
            ],
            {"connection": "close"},
        ),
    ],
)
def test_an_error_is_answered_by_its_status_details_and_headers(
    exc: Exception, status: int, detail: list[dict[str, object]], headers: dict[str, str]
) -> None:
    with TestClient(app_raising(exc)) as client:
        answer = client.get("/boom")
    assert answer.status_code == status
    assert answer.json() == {"detail": detail}
    assert {k: answer.headers[k] for k in headers} == headers


def test_a_client_gone_is_counted_and_answered_without_a_body() -> None:
    with TestClient(app_raising(ClientGoneError("scoring"))) as client:
        answer = client.get("/boom")
        text = client.get("/metrics").text
    assert (answer.status_code, answer.content) == (499, b"")
    assert 'raas_client_disconnects_total{stage="scoring"} 1.0' in text


@pytest.mark.parametrize("exc", [InvalidInputError("bad"), UnknownNameError("verifier", "x", [])])
def test_an_error_without_a_status_is_a_bug_answered_500(exc: Exception) -> None:
    with TestClient(app_raising(exc), raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
