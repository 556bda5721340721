"""The internal contract between the router and its backends: tasks in, outcomes out.

Importing it registers nothing and loads no verifier, so every role can speak it cheaply.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import repeat
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


Columns = tuple[int, list[tuple[bool, Any]]]
"""Tasks as columns: their count, and per field in field order ``(True, value)`` where every
task holds that very object, else ``(False, values)``."""

_READERS = tuple(operator.attrgetter(f.name) for f in dataclasses.fields(Task))


def to_columns(tasks: Sequence[Task]) -> Columns:
    """``tasks`` as :data:`Columns`: how a chunk crosses to a pool child. A chunk's tasks share
    their verifier, params, context and format as one object each (one admission per batch), so
    each of those is pickled once instead of once a task, and no ``__reduce__`` runs per task
    (``bench/bench_pool_encode.py``, 512 ``choice`` tasks: 0.87 → 0.49 µs a task to pickle, 71 →
    52 bytes). A field is shared only where every task holds the identical object: equal is not
    enough (``1 == True``)."""
    if not tasks:
        return 0, []
    columns = []
    for read in _READERS:
        values = list(map(read, tasks))
        first = values[0]
        shared = all(map(operator.is_, values, repeat(first)))
        columns.append((True, first) if shared else (False, values))
    return len(tasks), columns


def from_columns(columns: Columns) -> list[Task]:
    """The tasks :func:`to_columns` was given, in order (in a pool child)."""
    count, fields = columns
    if not count:
        return []
    return list(map(Task, *(repeat(value, count) if shared else value for shared, value in fields)))


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
