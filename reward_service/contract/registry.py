"""The verifier and format-checker registries: a dict each, filled by a decorator.

A verifier is a pure, synchronous, picklable function
``(response, ground_truth, params, context) -> Score`` registered under one name with a
pydantic params model; one registered with ``reads_prompt=True`` also takes the sample's prompt
(``prompt=``, ``None`` when the sample has none): only such verifiers are sent it.
It runs inside a killable child process, so it may be slow or even hang
without harming the service. A format checker is ``(response) -> float`` in [0, 1].
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import operator
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from reward_service.contract.errors import UnknownNameError

T = TypeVar("T")
P = TypeVar("P", bound="Params")
F = TypeVar("F", bound=Callable[..., "Score"])


class Params(BaseModel):
    """Base of every verifier's params model: unknown keys are rejected, values are frozen,
    and a float must be finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoParams(Params):
    """The verifier takes no params."""


_FIELD_GETTERS: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}


def fields_reduce(instance: Any) -> tuple[type[Any], tuple[Any, ...]]:
    """``__reduce__`` for the slots dataclasses that cross to pool children and workers: the
    class and every field's value in field order. A plain tuple pickles several times faster
    than a slots dataclass's state, and reading the fields from the class (not a tuple written
    by hand) means a field added later travels too instead of reverting to its default."""
    cls = type(instance)
    getter = _FIELD_GETTERS.get(cls)
    if getter is None:
        names = [f.name for f in dataclasses.fields(cls)]
        many = operator.attrgetter(*names)
        getter = many if len(names) > 1 else lambda obj: (many(obj),)
        _FIELD_GETTERS[cls] = getter
    return cls, getter(instance)


@dataclass(frozen=True, slots=True)
class Context:
    """Request-level facts a verifier may read (schedules), identical for every sample."""

    step: int | None = None
    total_steps: int | None = None

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return fields_reduce(self)


@dataclass(slots=True)
class Score:
    """A verifier's verdict: accuracy in [0, 1] and free-form diagnostics."""

    accuracy: float
    details: dict[str, Any] = field(default_factory=dict)


VerifyFn = Callable[[str, Any, Any, Context], Score]
ModelRewardFn = Callable[[Any, Any, Any], Score]  # (raw model output, params, model spec)
PrepareFn = Callable[[Any, Any], Any]
FormatFn = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class VerifierSpec:
    """``backend`` names where it runs. ``"rules"``: the process pool calls
    ``fn(response, ground_truth, params, context)``. ``"model"``: a model worker whose model is
    of one of ``kinds`` runs the forward pass and ``fn(raw, params, model_spec)`` maps its raw
    output to the score."""

    name: str
    fn: Callable[..., Score]  # a VerifyFn (rules) or a ModelRewardFn (model)
    params: type[Params]
    prepare: PrepareFn | None
    summary: str
    backend: str = "rules"
    kinds: frozenset[str] = frozenset()
    reads_prompt: bool = False  # the sample's prompt reaches it (and is part of its task's key)

    def score(
        self, response: str, ground_truth: Any, params: Any, context: Context, prompt: str | None
    ) -> Score:
        """A rule verifier's verdict, given the prompt only if it reads it."""
        if self.reads_prompt:
            return self.fn(response, ground_truth, params, context, prompt=prompt)
        return self.fn(response, ground_truth, params, context)


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str
    fn: FormatFn
    summary: str


class Registry(Generic[T]):
    """Name → item, with a guard against registering one name twice."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, sorted(self._items)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)


VERIFIERS: Registry[VerifierSpec] = Registry("verifier")
FORMATS: Registry[FormatSpec] = Registry("format checker")


def summary_of(fn: Callable[..., Any]) -> str:
    """First paragraph of the function's docstring, else of its module's docstring."""
    doc = inspect.getdoc(fn) or inspect.getdoc(sys.modules[fn.__module__]) or ""
    return " ".join(doc.split("\n\n")[0].split())


def verifier(
    name: str,
    *,
    params: type[Params] = NoParams,
    prepare: PrepareFn | None = None,
    reads_prompt: bool = False,
) -> Callable[[F], F]:
    """Register ``fn`` as verifier ``name``.

    ``prepare(ground_truth, params)`` parses a ground truth once; its result is what ``fn``
    receives, and it is reused for every sample of the group that shares that ground truth.
    Either may raise :class:`~reward_service.contract.errors.InvalidInputError`. ``reads_prompt``:
    ``fn`` also takes ``prompt=`` (the sample's, or ``None``); samples that differ only in their
    prompt are then scored apart, and a verifier that does not read it is never sent it.
    """

    def register(fn: F) -> F:
        spec = VerifierSpec(name, fn, params, prepare, summary_of(fn), reads_prompt=reads_prompt)
        VERIFIERS.add(name, spec)
        return fn

    return register


def model_verifier(
    name: str, *, params: type[Params], kinds: tuple[str, ...]
) -> Callable[[ModelRewardFn], ModelRewardFn]:
    """Register ``fn(raw, params, model_spec) -> Score`` as verifier ``name``, served by model
    workers, not the rule pool: a worker holding a model of one of ``kinds`` runs the forward
    pass (batched across requests), and ``fn`` turns one raw output into the reward."""

    def register(fn: ModelRewardFn) -> ModelRewardFn:
        spec = VerifierSpec(
            name, fn, params, None, summary_of(fn), "model", frozenset(kinds), reads_prompt=True
        )
        VERIFIERS.add(name, spec)
        return fn

    return register


def unit_interval(value: float, what: str) -> float:
    """``value`` as a float if it is a number in [0, 1], else ``ValueError`` naming ``what``:
    a verifier's or a model's score outside the range is a bug, never a reward."""
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} returned {value!r}, outside [0, 1]")
    return value


def format_checker(name: str) -> Callable[[FormatFn], FormatFn]:
    """Register ``fn(response) -> float in [0, 1]`` as format checker ``name``."""

    def register(fn: FormatFn) -> FormatFn:
        FORMATS.add(name, FormatSpec(name, fn, summary_of(fn)))
        return fn

    return register
