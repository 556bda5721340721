"""What crosses to pool children and workers survives pickling whole: every field of every
contract dataclass, whatever fields it has now or gains later; backends start and close in one
order wherever they are run."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from collections.abc import Sequence
from typing import Any

import pytest

from reward_service.contract.registry import Context
from reward_service.contract.task import Outcome, Task, from_columns, running, to_columns

CLASSES: list[type[Any]] = [Task, Outcome, Context]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_round_trips_through_pickle(cls: type[Any]) -> None:
    """Each field set to a value of its own (not its default): a ``__reduce__`` that left one
    out, or put two in the wrong order, brings back a default or a neighbour's value."""
    values = {f.name: f"value of {f.name}" for f in dataclasses.fields(cls)}
    original = cls(**values)
    copy = pickle.loads(pickle.dumps(original, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(copy) is cls
    assert {name: getattr(copy, name) for name in values} == values


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_they_pickle_as_plain_tuples(cls: type[Any]) -> None:
    """The speed the hand-written tuples were for: no per-instance state dict or slots state."""
    instance = cls(**{f.name: 1 for f in dataclasses.fields(cls)})
    reduced = instance.__reduce__()
    assert reduced[0] is cls
    assert reduced[1] == tuple(1 for _ in dataclasses.fields(cls))


def _fields(task: Task) -> dict[str, Any]:
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(Task)}


class _Params:
    """Equal to every other instance, as pydantic models of equal fields are (``1 == True``)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Params)

    __hash__ = object.__hash__


SHARED_PARAMS, SHARED_CONTEXT = _Params(), Context(step=3)
COLUMN_CASES: dict[str, list[Task]] = {
    "none": [],
    "one": [Task("choice", SHARED_PARAMS, "(A)", '"A"', params_key="{}")],
    "shared objects, distinct responses": [
        Task("choice", SHARED_PARAMS, f"({c})", '"B"', None, SHARED_CONTEXT, params_key="{}")
        for c in "ABCD"
    ],
    "every field distinct": [
        Task(**{f.name: f"{f.name} of task {i}" for f in dataclasses.fields(Task)})
        for i in range(5)
    ],
}


@pytest.mark.parametrize("tasks", COLUMN_CASES.values(), ids=list(COLUMN_CASES))
def test_tasks_cross_as_columns_unchanged(tasks: list[Task]) -> None:
    """What a pool child rebuilds is every task, in order, field for field, through pickle."""
    wire = pickle.dumps(to_columns(tasks), protocol=pickle.HIGHEST_PROTOCOL)
    rebuilt = from_columns(pickle.loads(wire))
    assert [_fields(t) for t in rebuilt] == [_fields(t) for t in tasks]


def test_a_column_is_shared_only_where_every_task_holds_the_same_object() -> None:
    """Equal params that are distinct objects stay one a task (equal is not the same: a
    verifier may tell ``1`` from ``True``); identical ones travel once."""
    distinct = [Task("choice", _Params(), "(A)", '"A"') for _ in range(3)]
    rebuilt = from_columns(to_columns(distinct))
    assert [t.params for t in rebuilt] == [t.params for t in distinct]
    _, columns = to_columns(distinct)
    names = [f.name for f in dataclasses.fields(Task)]
    shared = dict(zip(names, (flag for flag, _ in columns), strict=True))
    assert shared["params"] is False
    assert shared["verifier"] is True
    assert shared["context"] is True
    same = from_columns(to_columns([Task("choice", SHARED_PARAMS, r, '"A"') for r in "xyz"]))
    assert all(t.params is same[0].params for t in same)


class _Recorded:
    """A backend that writes what was done to it into ``log``; ``fail`` makes its start raise."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} cannot start")

    async def close(self) -> None:
        self.log.append(f"close {self.name}")

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        return [Outcome("ok", 1.0) for _ in tasks]

    def readiness(self) -> tuple[dict[str, Any], bool]:
        return {}, True


@pytest.mark.parametrize(
    ("failing", "raise_inside", "expected"),
    [
        (None, False, ["start a", "start b", "start c", "body", "close c", "close b", "close a"]),
        (None, True, ["start a", "start b", "start c", "body", "close c", "close b", "close a"]),
        # b's start fails: a, which started, is closed; c never starts; the block never runs
        ("b", False, ["start a", "start b", "close a"]),
    ],
)
def test_backends_start_in_order_and_close_last_first_however_the_block_ends(
    failing: str | None, raise_inside: bool, expected: list[str]
) -> None:
    log: list[str] = []
    backends = [_Recorded(name, log, fail=name == failing) for name in ("a", "b", "c")]

    async def main() -> None:
        async with running(backends):
            log.append("body")
            if raise_inside:
                raise ValueError("the app failed")

    if failing or raise_inside:
        with pytest.raises((RuntimeError, ValueError)):
            asyncio.run(main())
    else:
        asyncio.run(main())
    assert log == expected
