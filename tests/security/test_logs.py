"""Request ids and the JSON log line (in-process; the live run is in test_poisoning.py)."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from devtools.ports import free_port
from reward_service.http.app import create_app
from reward_service.logs import JsonFormatter, current_request_id
from reward_service.metrics import Metrics
from reward_service.settings import Settings


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = Settings(rule_workers=[f"http://127.0.0.1:{free_port()}"])
    return TestClient(create_app(settings, Metrics(CollectorRegistry())))


@pytest.mark.parametrize("given", ["trace-1", "a.b:c_d-9", "x" * 64])
def test_a_short_token_id_is_kept(client: TestClient, given: str) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "x" * 65, "has space", "tab\tin", "semi;colon"])
def test_anything_else_gets_a_fresh_id(client: TestClient, given: str) -> None:
    found = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    assert found != given
    assert len(found) == 32
    assert int(found, 16) >= 0


def test_the_json_line_carries_level_logger_message_fields_and_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("raas.test").makeRecord(
            "raas.test",
            logging.ERROR,
            __file__,
            1,
            "scored %d",
            (3,),
            exc_info=sys.exc_info(),
            extra={"fields": {"path": "/reward"}},
        )
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["msg"], line["path"]) == (
        "error",
        "raas.test",
        "scored 3",
        "/reward",
    )
    assert "ValueError: boom" in line["exc"]
    assert "request_id" not in line  # outside a request
    assert current_request_id() is None
