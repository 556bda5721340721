"""What a pool child runs: one task → one outcome, never an exception.

A ground truth's ``prepare`` result (e.g. math-verify's parse of the gold answer) is kept in a
small per-process LRU, so a GRPO group of G rollouts sharing one ground truth parses it once.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

import reward_service.verifiers  # noqa: F401  (registers every verifier and format checker)
from reward_service.errors import InvalidInputError
from reward_service.registry import FORMATS, VERIFIERS, Context, Params, VerifierSpec
from reward_service.schemas import Status

_PREPARED_CAPACITY = 4096


@dataclass(frozen=True, slots=True)
class Task:
    """One unique (verifier, params, response, ground truth, format) to score."""

    verifier: str
    params: Params
    response: str
    ground_truth: Any
    format: str | None
    context: Context
    group_key: str  # identifies (verifier, params, ground truth): equal keys share a prepare
    prompt: str | None = None  # read by model verifiers only
    images: tuple[str, ...] = ()  # read by model verifiers only


@dataclass(slots=True)
class Outcome:
    status: Status
    accuracy: float | None = None
    format: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class _Prepared(OrderedDict[str, Any]):
    def fetch(self, spec: VerifierSpec, task: Task) -> Any:
        if spec.prepare is None:
            return task.ground_truth
        if task.group_key in self:
            self.move_to_end(task.group_key)
            hit = self[task.group_key]
        else:
            try:
                hit = spec.prepare(task.ground_truth, task.params)
            except InvalidInputError as exc:
                hit = exc
            self[task.group_key] = hit
            if len(self) > _PREPARED_CAPACITY:
                self.popitem(last=False)
        if isinstance(hit, InvalidInputError):
            raise hit
        return hit


_prepared = _Prepared()


def _unit_interval(value: float, what: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} returned {value!r}, outside [0, 1]")
    return value


def _plain_json(details: dict[str, Any]) -> dict[str, Any]:
    """Details as plain JSON types (numpy scalars included), so the response always serialises."""
    if not details:
        return {}
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    plain: dict[str, Any] = orjson.loads(orjson.dumps(details, option=option))
    return plain


def _score(task: Task) -> Outcome:
    spec = VERIFIERS.get(task.verifier)
    ground_truth = _prepared.fetch(spec, task)
    score = spec.fn(task.response, ground_truth, task.params, task.context)
    accuracy = _unit_interval(score.accuracy, f"verifier {task.verifier!r}")
    fmt = None
    if task.format is not None:
        fmt = _unit_interval(FORMATS.get(task.format).fn(task.response), f"format {task.format!r}")
    return Outcome("ok", accuracy, fmt, _plain_json(score.details))


def run_task(task: Task) -> Outcome:
    """Score one task; every failure becomes a status with a message."""
    start = time.perf_counter()
    try:
        outcome = _score(task)
    except InvalidInputError as exc:
        outcome = Outcome("invalid_input", error=str(exc))
    except RecursionError:
        outcome = Outcome("invalid_input", error="input nested too deeply to score")
    except MemoryError:
        outcome = Outcome("error", error="worker memory limit exceeded")
    except Exception as exc:
        outcome = Outcome("error", error=f"{type(exc).__name__}: {exc}"[:2000])
    outcome.seconds = time.perf_counter() - start
    return outcome


def warm_up() -> None:
    """Run math-verify once so its lazy imports happen before the child reports ready."""
    if "math" in VERIFIERS:
        spec = VERIFIERS.get("math")
        run_task(Task("math", spec.params(), "\\boxed{1}", "1", None, Context(), "warm-up"))
