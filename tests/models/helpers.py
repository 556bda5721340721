"""Helpers shared by the model tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson

from reward_service.contract.registry import VERIFIERS, Context, Score
from reward_service.contract.task import Task
from reward_service.models.config import ModelSpec
from reward_service.verifiers.model.bmas import BMASParams
from reward_service.verifiers.model.rm import RMParams

T = TypeVar("T")


def spec(name: str, path: Path, kind: str = "bt", **options: Any) -> ModelSpec:
    return ModelSpec.model_validate({"name": name, "path": str(path), "kind": kind, **options})


def rm_task(
    model: str,
    response: str,
    prompt: str | None = "what is two plus two ?",
    images: tuple[str, ...] = (),
    bias: float | None = None,
    fmt: str | None = None,
) -> Task:
    params = RMParams(model=model, bias=bias)
    return Task("rm", params, response, "null", fmt, Context(), prompt, images)


def bmas_task(model: str, response: str, reference: Any, **params: Any) -> Task:
    checked = BMASParams(model=model, **params)
    return Task("bmas", checked, response, orjson.dumps(reference).decode())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "and",
    "the",
    "cat",
    "sat",
    "on",
    "the",
    "mat",
]


def sentence(n: int, offset: int = 0) -> str:
    """``n`` words from the corpus (one token each)."""
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n))


def reward(scorer: Any, task: Task, raw: Any) -> Score:
    """The task's model verifier applied to a raw forward-pass result, as a worker does."""
    return VERIFIERS.get(task.verifier).fn(raw, task.params, scorer.spec)
