"""The router's size limits hold again in the worker; prompts of the verifiers that read them
(model verifiers, ``math``) are bounded before any tokeniser or parser sees them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from devtools.ports import free_port
from reward_service.contract.errors import RequestError
from reward_service.contract.task import Outcome, Task
from reward_service.http.app import create_app
from reward_service.metrics import Metrics
from reward_service.remote.worker import parse_tasks
from reward_service.settings import Settings

LIMITS = Settings(max_prompt_chars=100, max_response_chars=200, max_ground_truth_chars=50)
RM = {"verifier": "rm", "params": {"model": "rm"}, "response": "fine"}


def worker_parse(*tasks: dict[str, Any]) -> list[Task | Outcome]:
    return parse_tasks(json.dumps({"tasks": list(tasks)}).encode(), LIMITS)  # big ints too


@pytest.mark.parametrize(
    ("task", "error"),
    [
        ({**RM, "prompt": "p" * 101}, "prompt longer than 100"),
        ({"verifier": "math", "response": "1", "prompt": "p" * 101}, "prompt longer than 100"),
        ({"verifier": "math", "response": "r" * 201, "ground_truth": "1"}, "response longer"),
        ({"verifier": "math", "response": "1", "ground_truth": "g" * 60}, "ground_truth longer"),
    ],
)
def test_the_worker_applies_the_limits_itself(task: dict[str, Any], error: str) -> None:
    (outcome,) = worker_parse(task)
    assert isinstance(outcome, Outcome)
    assert outcome.status == "invalid_input"
    assert error in (outcome.error or "")


def test_within_the_limits_tasks_go_on_and_unread_prompts_are_not_counted() -> None:
    rule = {"verifier": "chart", "response": "1", "ground_truth": "1", "prompt": "p" * 1000}
    math = {"verifier": "math", "response": "1", "ground_truth": "1", "prompt": "p" * 100}
    parsed = worker_parse({**RM, "prompt": "p" * 100}, rule, math)
    assert all(isinstance(task, Task) for task in parsed)
    assert [task.prompt for task in parsed if isinstance(task, Task)] == [
        "p" * 100,
        None,
        "p" * 100,
    ]


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"verifier": "math", "response": "1", "format": "no_such_format"}, "format"),
        ({"verifier": "no_such", "response": "1"}, "verifier"),
        ({"verifier": "math", "response": "1", "params": {"x": 2**64}}, None),
        ({"verifier": "math", "response": "1", "ground_truth": [2**64]}, None),
    ],
)
def test_the_worker_refuses_what_it_cannot_check(task: dict[str, Any], field: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        worker_parse(task)
    assert caught.value.errors[0]["loc"] == ["tasks", 0, *([field] if field else [])]


def test_the_router_refuses_a_long_rm_prompt_before_any_backend() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings(
        max_prompt_chars=100, model_workers=[dead], rule_workers=[dead], remote_retry_budget_s=0
    )
    samples = [{**RM, "prompt": "p" * 101}, {**RM, "prompt": "p" * 100}]
    with TestClient(create_app(settings, Metrics(CollectorRegistry()))) as client:
        results = client.post("/reward", json={"samples": samples}).json()["results"]
    assert results[0]["status"] == "invalid_input"
    assert "prompt longer than 100" in results[0]["error"]
    assert results[1]["status"] == "unavailable"  # it went on: nobody listens there
