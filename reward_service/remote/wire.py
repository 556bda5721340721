"""Tasks and outcomes on the wire between the router and remote workers (``POST /v1/tasks``).

A worker is a service of its own and trusts no caller: it validates every task again (names
against its own registry, params against the verifier's model) and derives every cache key
itself from what it validated, so no caller can steer what another request's task reuses.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter

from reward_service.contract import Outcome, Task
from reward_service.registry import FORMATS, VERIFIERS, Context, Params
from reward_service.schemas import ID_MAX


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


ParamsCache = dict[str, tuple[Params, str]]


def task_from_wire(wire: WireTask, params_cache: ParamsCache | None = None) -> Task:
    """Raises ``UnknownNameError`` or pydantic ``ValidationError`` for a task it cannot run.
    ``params_cache`` (validated params and their canonical JSON, by verifier and params as
    sent) serves a whole batch."""
    spec = VERIFIERS.get(wire.verifier)
    if wire.format is not None:
        FORMATS.get(wire.format)
    cache = params_cache if params_cache is not None else {}
    key = wire.verifier + "\0" + orjson.dumps(wire.params, option=orjson.OPT_SORT_KEYS).decode()
    if key not in cache:
        params = spec.params.model_validate(wire.params)
        cache[key] = (params, params.model_dump_json())
    params, params_key = cache[key]
    context = Context(wire.context.step, wire.context.total_steps)
    ground_truth = orjson.dumps(wire.ground_truth, option=orjson.OPT_SORT_KEYS).decode()
    prompt = wire.prompt if spec.reads_prompt else None  # kept only where it is read
    return Task(
        wire.verifier, params, wire.response, ground_truth, wire.format, context, prompt,
        tuple(wire.images), wire.format_only, params_key,
    )  # fmt: skip


def outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


_OUTCOME = TypeAdapter(Outcome)


def outcome_from_wire(wire: Any) -> Outcome:
    """A worker's outcome, checked (``ValidationError`` if it is not one)."""
    return _OUTCOME.validate_python(wire)
