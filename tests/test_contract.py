"""What crosses to pool children and workers survives pickling whole: every field of every
contract dataclass, whatever fields it has now or gains later."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from reward_service.contract import Outcome, Task
from reward_service.registry import Context

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
