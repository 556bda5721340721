"""Admission (:mod:`reward_service.contract.admission`): names, params, canonical keys and size
limits, called directly; and the worker refusing what the router refuses, since both now admit
through it (a worker trusts no caller's checks)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from reward_service.contract.admission import (
    Admissions,
    Admitted,
    admit,
    canonical,
    lookup,
    too_big,
)
from reward_service.contract.errors import RequestError, UnknownNameError
from reward_service.contract.registry import VERIFIERS
from reward_service.contract.schemas import RewardRequest
from reward_service.contract.task import Outcome, Task
from reward_service.metrics import Metrics
from reward_service.remote.worker import parse_tasks
from reward_service.routing.router import Router
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers

load_verifiers()
BIG = 2**64
LIMITS = Settings(max_prompt_chars=10, max_response_chars=20, max_ground_truth_chars=5)
MATH = {"verifier": "math", "response": "\\boxed{2}", "ground_truth": "2"}


@pytest.mark.parametrize(
    ("verifier", "format_", "loc", "msg"),
    [
        ("nope", None, ["verifier"], "unknown verifier 'nope'; known: "),
        ("nope", "think_answer", ["verifier"], "unknown verifier 'nope'; known: "),
        ("nope", "nope", ["verifier"], "unknown verifier 'nope'; known: "),  # the verifier first
        ("math", "nope", ["format"], "unknown format checker 'nope'; known: "),
    ],
)
def test_unknown_names_are_refused_where_they_are(
    verifier: str, format_: str | None, loc: list[Any], msg: str
) -> None:
    (detail,) = Admissions().admit(verifier, format_, {})  # type: ignore[misc]
    assert detail["loc"] == loc
    assert detail["type"] == "unknown_name"
    assert detail["msg"].startswith(msg)
    with pytest.raises(UnknownNameError):
        lookup(verifier, format_)


@pytest.mark.parametrize(
    ("verifier", "params", "errors"),
    [
        ("math", {"tolerance": "x"}, [(["params", "tolerance"], "float_parsing")]),
        ("math", {"tolerance": 2}, [(["params", "tolerance"], "less_than_equal")]),
        (
            "math",
            {"tolerance": "x", "zz": 1},
            [
                (["params", "tolerance"], "float_parsing"),
                (["params", "zz"], "extra_forbidden"),
            ],
        ),
        ("choice", {"a": 1}, [(["params", "a"], "extra_forbidden")]),
        ("rm", {}, [(["params", "model"], "missing")]),
        ("iou", {"dynamic_schedule": {"x": 1}}, [(["params", "dynamic_schedule"], "tuple_type")]),
    ],
)
def test_params_errors_are_located_within_params(
    verifier: str, params: dict[str, Any], errors: list[tuple[list[Any], str]]
) -> None:
    found = Admissions().admit(verifier, None, params)
    assert isinstance(found, list)
    assert [(e["loc"], e["type"]) for e in found] == errors
    assert found == admit(verifier, None, params)  # the cache answers what validation does


@pytest.mark.parametrize(
    ("verifier", "params"),
    [
        ("math", {"tolerance": BIG}),  # a key the model has
        ("math", {"x": [1, {"y": BIG}]}),  # nested, under a key it does not have
        ("nope", {"x": BIG}),  # before the names: nothing about it can be keyed
    ],
)
def test_an_integer_past_64_bits_in_params_is_not_serialisable(
    verifier: str, params: dict[str, Any]
) -> None:
    assert Admissions().admit(verifier, None, params) == [
        {"loc": ["params"], "msg": "Integer exceeds 64-bit range", "type": "not_serialisable"}
    ]


@pytest.mark.parametrize("verifier", ["choice", "math", "iou", "detection", "ocr"])
def test_empty_params_take_the_fast_path_to_the_validated_defaults(verifier: str) -> None:
    found = Admissions().admit(verifier, None, {})
    assert isinstance(found, Admitted)
    defaults = VERIFIERS.get(verifier).params.model_validate({})
    assert found.params == defaults
    assert found.params_key == defaults.model_dump_json()
    assert found.spec is VERIFIERS.get(verifier)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"strict": False, "tolerance": 0.5}, {"tolerance": 0.5, "strict": False}),
        ({}, {"tolerance": 1e-6}),  # the defaults written out
        ({"tolerance": 0.5}, {"tolerance": 5e-1, "strict": True}),
    ],
)
def test_equal_params_share_one_canonical_key(one: dict[str, Any], other: dict[str, Any]) -> None:
    first, second = admit("math", None, one), admit("math", None, other)
    assert isinstance(first, Admitted)
    assert isinstance(second, Admitted)
    assert first.params_key == second.params_key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}),
        ({"x": [1, {"d": 2, "c": 3}]}, {"x": [1, {"c": 3, "d": 2}]}),
        ([{"label": "cat", "box": [0, 0, 1, 1]}], [{"box": [0, 0, 1, 1], "label": "cat"}]),
    ],
)
def test_reordered_ground_truth_keys_give_one_canonical_text(one: Any, other: Any) -> None:
    assert canonical(one) == canonical(other) == json.dumps(one, sort_keys=True).replace(" ", "")


def test_a_ground_truth_json_cannot_hold_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        canonical([BIG])


@pytest.mark.parametrize(
    ("response", "ground_truth", "prompt", "reads_prompt", "error"),
    [
        ("r" * 20, "g" * 5, "p" * 10, True, None),  # each at its limit
        ("r" * 21, "g", None, False, "response longer than 20 characters"),
        ("r", "g" * 6, None, False, "ground_truth longer than 5 characters"),
        ("r", "g", "p" * 11, True, "prompt longer than 10 characters"),
        ("r", "g", "p" * 11, False, None),  # a prompt the verifier does not read is not counted
        ("r" * 21, "g" * 6, "p" * 11, True, "response longer than 20 characters"),  # first wins
    ],
)
def test_size_limits_per_field(
    response: str, ground_truth: str, prompt: str | None, reads_prompt: bool, error: str | None
) -> None:
    found = too_big(response, ground_truth, prompt, reads_prompt, LIMITS)
    expected = None if error is None else Outcome("invalid_input", error=error)
    assert found == expected


@pytest.mark.parametrize(
    ("verifier", "format_", "params"),
    [
        ("math", None, {"tolerance": 0.5, "strict": False}),
        ("math", "think_answer", {}),
        ("math", None, {"tolerance": "x"}),  # refusals are answered from the cache too
        ("nope", None, {}),
    ],
)
def test_a_batch_admits_each_spec_once(
    verifier: str, format_: str | None, params: dict[str, Any]
) -> None:
    admissions = Admissions()
    first = admissions.admit(verifier, format_, params)
    reordered = dict(reversed(params.items()))
    assert admissions.admit(verifier, format_, reordered) is first
    assert Admissions().admit(verifier, format_, params) is not first  # per batch
    assert admissions.admit(verifier, "detection_answer", params) is not first


def _router_refusal(sample: dict[str, Any]) -> list[dict[str, Any]] | Outcome:
    """What the router answers for one sample: its 422 details within the sample, or its
    outcome (no backend is configured: a sample it lets through is ``unavailable``)."""
    router = Router(LIMITS, {}, Metrics(CollectorRegistry()))
    request = RewardRequest.model_validate({"samples": [sample]})
    try:
        (outcome,) = asyncio.run(router.run(request))
    except RequestError as exc:
        return [{**e, "loc": e["loc"][2:]} for e in exc.errors]
    return outcome


def _worker_refusal(task: dict[str, Any]) -> list[dict[str, Any]] | Outcome | Task:
    try:
        (parsed,) = parse_tasks(json.dumps({"tasks": [task]}).encode(), LIMITS)
    except RequestError as exc:
        return [{**e, "loc": e["loc"][2:]} for e in exc.errors]
    return parsed


@pytest.mark.parametrize(
    "sample",
    [
        {**MATH, "verifier": "nope"},
        {**MATH, "format": "nope"},
        {**MATH, "params": {"tolerance": "x", "zz": 1}},
        {**MATH, "verifier": "nope", "params": {"x": BIG}},  # the worker named the verifier
        {**MATH, "params": {"tolerance": BIG}},
        {"verifier": "rm", "response": "x"},
        {**MATH, "response": "r" * 21},
        {**MATH, "ground_truth": "g" * 6},
        {**MATH, "prompt": "p" * 11},
    ],
)
def test_the_worker_refuses_what_the_router_refuses(sample: dict[str, Any]) -> None:
    by_router, by_worker = _router_refusal(sample), _worker_refusal(sample)
    if isinstance(by_router, Outcome):  # a size limit: the same invalid_input outcome
        assert isinstance(by_worker, Outcome)
        assert (by_worker.status, by_worker.error) == ("invalid_input", by_router.error)
        return
    assert isinstance(by_worker, list)
    for mine, theirs in zip(by_worker, by_router, strict=True):
        assert (mine["type"], mine["msg"]) == (theirs["type"], theirs["msg"])
        # a worker locates a value JSON cannot hold at the task (tests/security pins it)
        assert mine["loc"] == ([] if mine["type"] == "not_serialisable" else theirs["loc"])


def test_both_let_through_what_they_admit_with_the_same_keys() -> None:
    sample = {**MATH, "params": {"tolerance": 0.5}, "prompt": "why"}
    (task,) = parse_tasks(json.dumps({"tasks": [sample]}).encode(), LIMITS)
    assert isinstance(task, Task)
    found = Admissions().admit("math", None, {"tolerance": 0.5})
    assert isinstance(found, Admitted)
    assert (task.params, task.params_key, task.ground_truth) == (
        found.params,
        found.params_key,
        canonical("2"),
    )
    assert _router_refusal(sample).status == "unavailable"  # type: ignore[union-attr]
