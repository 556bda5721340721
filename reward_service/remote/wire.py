"""Tasks and outcomes on the wire between the router and remote workers (``POST /v1/tasks``).

A worker is a service of its own and trusts no caller: it admits every task again
(:mod:`reward_service.contract.admission`: names against its own registry, params against the
verifier's model) and derives every cache key itself from what it validated, so no caller can steer
what another request's task reuses.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter

from reward_service.contract.admission import Admissions, canonical
from reward_service.contract.errors import RequestError, detail
from reward_service.contract.registry import Context
from reward_service.contract.schemas import ID_MAX
from reward_service.contract.task import Outcome, Task


class WireContext(BaseModel):
    step: int | None = Field(None, ge=0, le=ID_MAX)
    total_steps: int | None = Field(None, ge=1, le=ID_MAX)


class WireTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verifier: StrictStr
    params: dict[str, Any] = Field(default_factory=dict)
    response: StrictStr
    ground_truth: Any = None
    format: StrictStr | None = None
    context: WireContext = WireContext()
    prompt: StrictStr | None = None
    images: list[StrictStr] = Field(default_factory=list)
    format_only: bool = False


class TaskBatch(BaseModel):
    tasks: list[WireTask]


class OutcomeBatch(BaseModel):
    """A worker's answer: the contract's :class:`Outcome` per task, in order (pydantic validates
    the dataclass itself: one shape, not a mirror of it)."""

    outcomes: list[Outcome]


def task_to_wire(task: Task) -> dict[str, Any]:
    return {
        "verifier": task.verifier,
        "params": task.params.model_dump(mode="json"),
        "response": task.response,
        "ground_truth": orjson.Fragment(task.ground_truth),  # already canonical JSON
        "format": task.format,
        "context": {"step": task.context.step, "total_steps": task.context.total_steps},
        "prompt": task.prompt,
        "images": list(task.images),
        "format_only": task.format_only,
    }


def task_from_wire(wire: WireTask, admissions: Admissions | None = None) -> Task:
    """The task, admitted again here (:mod:`reward_service.contract.admission`), or a
    :class:`RequestError` whose details are located within the task; ``admissions`` serves a
    whole batch. A task JSON cannot hold (an integer past 64 bits in its params or ground truth)
    is refused as a whole, at the task."""
    found = (admissions if admissions is not None else Admissions()).admit(
        wire.verifier, wire.format, wire.params
    )
    if isinstance(found, list):
        raise RequestError([_at_task(item) for item in found])
    try:
        ground_truth = canonical(wire.ground_truth)
    except orjson.JSONEncodeError as exc:
        raise RequestError([detail([], str(exc), "not_serialisable")]) from None
    spec = found.spec
    context = Context(wire.context.step, wire.context.total_steps)
    prompt = wire.prompt if spec.reads_prompt else None  # kept only where it is read
    return Task(
        wire.verifier,
        found.params,
        wire.response,
        ground_truth,
        wire.format,
        context,
        prompt,
        tuple(wire.images),
        wire.format_only,
        found.params_key,
    )


def _at_task(item: dict[str, Any]) -> dict[str, Any]:
    """A value JSON cannot hold refuses the task as a whole, params or ground truth alike: a
    worker's ``not_serialisable`` has always been located at the task (``tests/security``)."""
    return {**item, "loc": []} if item["type"] == "not_serialisable" else item


def outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


_OUTCOME = TypeAdapter(Outcome)


def outcome_from_wire(wire: Any) -> Outcome:
    """A worker's outcome, checked (``ValidationError`` if it is not one)."""
    return _OUTCOME.validate_python(wire)
