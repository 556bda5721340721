"""What a pool child runs: one task → one outcome, never an exception.

A ground truth's parse (its JSON, then the verifier's ``prepare``, e.g. math-verify's parse of
the gold answer) is kept in a per-process LRU bounded in entries and characters, keyed by
(verifier, params, canonical ground truth): a GRPO group of G rollouts parses it once, and no
caller can make a child reuse a parse under another ground truth.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import orjson

from reward_service.contract.errors import InvalidInputError, error_text
from reward_service.contract.monitoring import reflections
from reward_service.contract.registry import (
    FORMATS,
    VERIFIERS,
    Context,
    VerifierSpec,
    unit_interval,
)
from reward_service.contract.task import Outcome, Task
from reward_service.pool.tokens import count_tokens, load_tokenizer
from reward_service.verifiers import load_verifiers

load_verifiers()  # this module is what pool children run

_PREPARED_ENTRIES = 4096
_PREPARED_CHARS = 32 * 1024 * 1024


class _Prepared:
    """Group → parsed ground truth (or the error its parse raised), least recently used out."""

    def __init__(self, entries: int, chars: int) -> None:
        self.entries, self.chars = entries, chars
        self._cache: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._size = 0

    def fetch(self, spec: VerifierSpec, task: Task) -> Any:
        key = task.group()
        if key in self._cache:
            self._cache.move_to_end(key)
            hit = self._cache[key]
        else:
            hit = _parse(spec, task)
            self._cache[key] = hit
            self._size += len(key[2])
            while len(self._cache) > self.entries or self._size > self.chars:
                self._size -= len(self._cache.popitem(last=False)[0][2])
        if isinstance(hit, InvalidInputError):
            raise hit
        return hit


def _parse(spec: VerifierSpec, task: Task) -> Any:
    try:
        ground_truth = orjson.loads(task.ground_truth)
        return ground_truth if spec.prepare is None else spec.prepare(ground_truth, task.params)
    except InvalidInputError as exc:
        return exc


_prepared = _Prepared(_PREPARED_ENTRIES, _PREPARED_CHARS)
_tokenizer: Any = None  # RAAS_TOKENIZER, loaded by warm_up


def _plain_json(details: dict[str, Any]) -> dict[str, Any]:
    """Details as plain JSON types (numpy scalars included), so the response always serialises."""
    if not details:
        return {}
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    plain: dict[str, Any] = orjson.loads(orjson.dumps(details, option=option))
    return plain


def _format(task: Task) -> float | None:
    if task.format is None:
        return None
    return unit_interval(FORMATS.get(task.format).fn(task.response), f"format {task.format!r}")


def _score(task: Task, outcome: Outcome) -> None:
    """Fill ``outcome``: the format first, so that it is known even when the accuracy fails."""
    outcome.format = _format(task)
    if task.format_only:
        return
    spec = VERIFIERS.get(task.verifier)
    if spec.backend != "rules":
        raise ValueError(f"{task.verifier!r} is scored by model workers, not the rule pool")
    ground_truth = _prepared.fetch(spec, task)
    score = spec.score(task.response, ground_truth, task.params, task.context, task.prompt)
    outcome.accuracy = unit_interval(score.accuracy, f"verifier {task.verifier!r}")
    outcome.details = _plain_json(score.details)


def run_task(task: Task) -> Outcome:
    """Score one task; every failure becomes a status with a message."""
    start = time.perf_counter()
    plain, vtriune = reflections(task.response)
    outcome = Outcome("ok", reflects=plain, reflects_vtriune=vtriune)
    if _tokenizer is not None and not task.format_only:
        outcome.tokens = count_tokens(_tokenizer, task.response)
    try:
        _score(task, outcome)
    except InvalidInputError as exc:
        outcome.status, outcome.error = "invalid_input", str(exc)
    except RecursionError:
        outcome.status, outcome.error = "invalid_input", "input nested too deeply to score"
    except MemoryError:
        outcome.status, outcome.error = "error", "worker memory limit exceeded"
    except Exception as exc:
        outcome.status, outcome.error = "error", error_text(exc)
    if outcome.status != "ok":
        outcome.accuracy, outcome.details = None, {}
    outcome.seconds = time.perf_counter() - start
    return outcome


def warm_up(tokenizer: str | None = None) -> None:
    """Load the tokenizer if one is configured, and run math-verify once so its lazy imports
    happen before the child reports ready."""
    global _tokenizer
    if tokenizer is not None:
        _tokenizer = load_tokenizer(tokenizer)
    if "math" in VERIFIERS:
        spec = VERIFIERS.get("math")
        run_task(Task("math", spec.params(), "\\boxed{1}", '"1"', None, Context()))
