"""Tasks and outcomes on the wire between the router and remote workers (``POST /v1/tasks``).

The router has already validated every sample; a worker validates again (params against its own
registry) because a worker is a service of its own and trusts no caller.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from reward_service.registry import VERIFIERS, Context
from reward_service.schemas import Status
from reward_service.workers.execute import Outcome, Task


class WireContext(BaseModel):
    step: int | None = Field(None, ge=0)
    total_steps: int | None = Field(None, ge=1)


class WireTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verifier: StrictStr
    params: dict[str, Any] = Field(default_factory=dict)
    response: StrictStr
    ground_truth: Any = None
    format: StrictStr | None = None
    context: WireContext = WireContext()
    group_key: StrictStr = ""
    prompt: StrictStr | None = None
    images: list[StrictStr] = Field(default_factory=list)


class TaskBatch(BaseModel):
    tasks: list[WireTask]


class WireOutcome(BaseModel):
    status: Status
    accuracy: float | None = None
    format: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class OutcomeBatch(BaseModel):
    outcomes: list[WireOutcome]


def task_to_wire(task: Task) -> dict[str, Any]:
    return {
        "verifier": task.verifier,
        "params": task.params.model_dump(mode="json"),
        "response": task.response,
        "ground_truth": task.ground_truth,
        "format": task.format,
        "context": {"step": task.context.step, "total_steps": task.context.total_steps},
        "group_key": task.group_key,
        "prompt": task.prompt,
        "images": list(task.images),
    }


def task_from_wire(wire: WireTask) -> Task:
    """Raises ``UnknownNameError`` or pydantic ``ValidationError`` for a task it cannot run."""
    spec = VERIFIERS.get(wire.verifier)
    params = spec.params.model_validate(wire.params)
    context = Context(wire.context.step, wire.context.total_steps)
    group = wire.group_key or f"{wire.verifier}\0{wire.params}\0{wire.ground_truth!r}"
    return Task(
        wire.verifier, params, wire.response, wire.ground_truth, wire.format, context, group,
        wire.prompt, tuple(wire.images),
    )  # fmt: skip


def outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


def outcome_from_wire(wire: dict[str, Any]) -> Outcome:
    checked = WireOutcome.model_validate(wire)
    return Outcome(
        checked.status, checked.accuracy, checked.format, checked.details, checked.error,
        checked.seconds,
    )  # fmt: skip
