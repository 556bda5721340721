"""The sample's prompt reaches the verifiers that read it (``reads_prompt``), at every depth:
admission (deduplication, the size limit), the pool's task, the remote wire; and no other."""

from __future__ import annotations

from typing import Any

from devtools.inproc import app_client
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.contract.task import Task
from reward_service.pool.execute import run_task
from reward_service.remote.wire import WireTask, task_from_wire, task_to_wire
from reward_service.verifiers import load_verifiers

load_verifiers()

RESTATED = "Compute $2^{10} - 24$."
OTHER = "How many bytes are in a kilobyte, in the decimal convention?"
ANSWER = "\\boxed{2^{10} - 24}"  # equal to 1000 by value; the question itself for RESTATED


def math_sample(prompt: str | None, **extra: Any) -> dict[str, Any]:
    sample = {"response": ANSWER, "ground_truth": "1000", "verifier": "math", **extra}
    return sample if prompt is None else {**sample, "prompt": prompt}


def test_which_verifiers_read_the_prompt() -> None:
    readers = {name for name in VERIFIERS if VERIFIERS.get(name).reads_prompt}
    models = {name for name in VERIFIERS if VERIFIERS.get(name).backend != "rules"}
    assert readers == {"math"} | models


def test_the_verifier_list_says_which_read_the_prompt() -> None:
    with app_client() as (http, _):
        listed = {v["name"]: v for v in http.get("/v1/verifiers").json()["verifiers"]}
    assert listed["math"]["reads_prompt"] is True
    assert listed["chart"]["reads_prompt"] is False
    assert listed["think_answer"]["reads_prompt"] is False


def test_the_pool_passes_the_prompt_to_math() -> None:
    params = VERIFIERS.get("math").params()
    restated = run_task(Task("math", params, ANSWER, '"1000"', None, Context(), RESTATED))
    assert restated.accuracy == 0.0
    assert restated.details["reason"] == "restates the question"
    assert run_task(Task("math", params, ANSWER, '"1000"', None, Context(), OTHER)).accuracy == 1
    assert run_task(Task("math", params, ANSWER, '"1000"', None, Context())).accuracy == 1


def test_samples_differing_only_in_prompt_do_not_share_a_verdict() -> None:
    samples = [math_sample(RESTATED), math_sample(OTHER), math_sample(RESTATED), math_sample(None)]
    with app_client() as (http, registry):
        results = http.post("/reward", json={"samples": samples}).json()["results"]
    assert [r["reward"] for r in results] == [0.0, 1.0, 0.0, 1.0]
    assert results[0]["details"]["reason"] == "restates the question"
    assert registry.get_sample_value("raas_deduplicated_samples_total") == 1  # the repeat only


def test_a_verifier_that_does_not_read_the_prompt_shares_its_verdict() -> None:
    samples = [
        {"response": "\\boxed{12}", "ground_truth": "12", "verifier": "chart", "prompt": p}
        for p in ("one", "two", "x" * 70_000)  # past RAAS_MAX_PROMPT_CHARS: never read
    ]
    with app_client() as (http, registry):
        results = http.post("/reward", json={"samples": samples}).json()["results"]
    assert [r["reward"] for r in results] == [1.0, 1.0, 1.0]
    assert registry.get_sample_value("raas_deduplicated_samples_total") == 2


def test_a_prompt_past_the_limit_is_not_read_by_math() -> None:
    with app_client() as (http, _):
        (result,) = http.post("/reward", json={"samples": [math_sample("x" * 70_000)]}).json()[
            "results"
        ]
    assert result["status"] == "invalid_input"
    assert "prompt longer than" in result["error"]


def test_the_wire_keeps_the_prompt_only_where_it_is_read() -> None:
    math = Task("math", VERIFIERS.get("math").params(), ANSWER, '"1000"', prompt=RESTATED)
    assert task_from_wire(WireTask.model_validate(task_to_wire_json(math))).prompt == RESTATED
    chart = Task("chart", VERIFIERS.get("chart").params(), "12", '"12"', prompt="unread")
    assert task_from_wire(WireTask.model_validate(task_to_wire_json(chart))).prompt is None


def task_to_wire_json(task: Task) -> dict[str, Any]:
    wire = task_to_wire(task)
    return {**wire, "ground_truth": task.ground_truth.strip('"')}
