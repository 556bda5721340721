"""The internal contract between the router and its backends: tasks in, outcomes out.

Importing it registers nothing and loads no verifier, so every role can speak it cheaply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reward_service.contract.registry import Context, Params, fields_reduce
from reward_service.contract.schemas import Status

NO_CONTEXT = Context()


@dataclass(slots=True, eq=False)
class Task:
    """One unique (verifier, params, response, ground truth, format) to score, and the prompt
    where the verifier reads it (model verifiers, ``math``): otherwise ``None``, so a rule
    verifier that does not read it never pays to pickle or send it.

    Read-only by convention, not ``frozen``: a frozen dataclass sets each field through
    ``object.__setattr__``, 1.2 µs a task against 0.3 µs (measured), paid for every sample on
    the router and again in the pool child that unpickles it. ``eq=False``: compared and
    hashed by identity (the router's dedupe keys on the fields, never on a task).

    ``ground_truth`` is the canonical JSON text (sorted keys) of the sample's ground truth: a
    plain string on the pipe, and with the verifier and its validated params the key under which
    a pool child keeps its parse, so samples sharing a ground truth parse it once.
    """

    verifier: str
    params: Params
    response: str
    ground_truth: str = "null"
    format: str | None = None
    context: Context = NO_CONTEXT
    prompt: str | None = None  # set only for a verifier that reads it (``reads_prompt``)
    images: tuple[str, ...] = ()  # read by model verifiers only
    format_only: bool = False  # score the format alone (accuracy left out)
    params_key: str = ""  # the params' canonical JSON, from whoever validated them

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return fields_reduce(self)

    def size(self) -> int:
        """Roughly the bytes it takes on a pipe or the wire (chunks and pieces are bounded by)."""
        return len(self.response) + len(self.ground_truth) + len(self.prompt or "")

    def group(self) -> tuple[str, str, str]:
        """What the parse of the ground truth depends on: tasks with equal groups share it.
        Strings only: comparing two equal pydantic models costs microseconds, strings less."""
        return self.verifier, self.params_key or self.params.model_dump_json(), self.ground_truth


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a task produced no value, as the pool or a model batcher reports it: the status its
    sample gets and the message it carries."""

    status: Status
    message: str


@dataclass(slots=True)
class Outcome:
    """What became of a task. For the source summary, when the backend looked: ``reflects``,
    whether the response holds a reflection word (``raas`` mode), ``reflects_vtriune`` the same
    in V-Triune's mode; ``tokens``, its length in tokens."""

    status: Status
    accuracy: float | None = None
    format: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    reflects: bool | None = None
    tokens: int | None = None
    reflects_vtriune: bool | None = None

    @classmethod
    def of(cls, value: Outcome | Failure) -> Outcome:
        """An outcome as it is, or the outcome of a failure."""
        if isinstance(value, Failure):
            return cls(value.status, error=value.message)
        return value

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return fields_reduce(self)


class Backend(Protocol):
    """Somewhere tasks are scored: the embedded pool, remote rule or model workers, the models in
    this process. The router, a worker's ``/v1/tasks`` and offline scoring all hold them as
    this, and start and close them with :func:`running`.

    ``run`` answers one outcome per task, in order, and does not raise: a failure is an outcome
    with its status. The one exception is :class:`~reward_service.contract.errors.OverloadedError`
    before any work starts (the request is refused with 429); the router turns anything else into
    ``error`` outcomes. ``readiness`` is its part of ``/readyz``'s body and whether it can serve.
    """

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def run(self, tasks: Sequence[Task]) -> list[Outcome]: ...
    def readiness(self) -> tuple[dict[str, Any], bool]: ...


@asynccontextmanager
async def running(backends: Iterable[Backend]) -> AsyncIterator[None]:
    """Start ``backends`` in order; close the ones that started, last first, however the block
    ends (one whose start fails leaves the others closed, not running)."""
    started: list[Backend] = []
    try:
        for backend in backends:
            await backend.start()
            started.append(backend)
        yield
    finally:
        for backend in reversed(started):
            await backend.close()
