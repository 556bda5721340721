"""run_task turns every verifier behaviour into an outcome (in-process here; the pool runs it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context, NoParams, Score, VerifierSpec
from reward_service.contract.task import Task
from reward_service.pool import execute
from reward_service.pool.execute import run_task

calls: list[Any] = []


def counting_prepare(ground_truth: Any, params: Any) -> Any:
    calls.append(ground_truth)
    if ground_truth == "bad":
        raise InvalidInputError("ground truth 'bad' is unusable")
    return f"parsed:{ground_truth}"


def echo_verifier(response: str, ground_truth: Any, params: Any, context: Context) -> Score:
    return Score(float(response), {"gt": ground_truth})


def numpy_verifier(response: str, ground_truth: Any, params: Any, context: Context) -> Score:
    if response == "object":
        return Score(1.0, {"bad": object()})
    return Score(1.0, {"iou": np.float32(0.5), "boxes": np.array([[1, 2]]), 3: "int key"})


def raising_verifier(response: str, ground_truth: Any, params: Any, context: Context) -> Score:
    raise KeyError(response)


@pytest.fixture(autouse=True)
def test_verifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    items = VERIFIERS._items
    monkeypatch.setitem(
        items, "t_echo", VerifierSpec("t_echo", echo_verifier, NoParams, counting_prepare, "")
    )
    monkeypatch.setitem(items, "t_np", VerifierSpec("t_np", numpy_verifier, NoParams, None, ""))
    monkeypatch.setitem(
        items, "t_raise", VerifierSpec("t_raise", raising_verifier, NoParams, None, "")
    )
    monkeypatch.setattr(execute, "_prepared", execute._Prepared(entries=16, chars=1 << 20))
    calls.clear()


def task(verifier: str, response: str, gt: Any = "g", fmt: str | None = None) -> Task:
    return Task(verifier, NoParams(), response, orjson.dumps(gt).decode(), fmt, Context())


def test_ok_outcome_carries_accuracy_details_and_time() -> None:
    outcome = run_task(task("t_echo", "0.25"))
    assert (outcome.status, outcome.accuracy, outcome.details) == ("ok", 0.25, {"gt": "parsed:g"})
    assert outcome.seconds > 0


def test_a_ground_truth_is_prepared_once_per_group() -> None:
    for response in ("0", "1", "0.5", "1"):
        assert run_task(task("t_echo", response)).status == "ok"
    run_task(task("t_echo", "1", gt="other"))
    assert calls == ["g", "other"]


def test_an_invalid_ground_truth_fails_its_whole_group_with_one_parse() -> None:
    outcomes = [run_task(task("t_echo", "1", gt="bad")) for _ in range(3)]
    assert {o.status for o in outcomes} == {"invalid_input"}
    assert outcomes[0].error == "ground truth 'bad' is unusable"
    assert calls == ["bad"]


@pytest.mark.parametrize("response", ["1.5", "-0.1", "nan", "inf"])
def test_accuracy_outside_the_unit_interval_is_an_error_not_a_reward(response: str) -> None:
    outcome = run_task(task("t_echo", response))
    assert outcome.status == "error"
    assert outcome.accuracy is None
    assert "outside [0, 1]" in (outcome.error or "")


def test_a_raising_verifier_is_an_error_with_its_message() -> None:
    outcome = run_task(task("t_raise", "boom"))
    assert (outcome.status, outcome.error) == ("error", "KeyError: 'boom'")


def test_format_checker_runs_beside_the_verifier() -> None:
    outcome = run_task(task("t_echo", "1", fmt="think_answer"))
    assert (outcome.accuracy, outcome.format) == (1.0, 0.0)


def test_details_become_plain_json() -> None:
    outcome = run_task(task("t_np", "numpy"))
    assert outcome.details == {"iou": 0.5, "boxes": [[1, 2]], "3": "int key"}
    assert type(outcome.details["iou"]) is float


def test_unserialisable_details_are_an_error_not_a_broken_response() -> None:
    outcome = run_task(task("t_np", "object"))
    assert outcome.status == "error"
    assert "not JSON serializable" in (outcome.error or "")
