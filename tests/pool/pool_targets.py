"""Targets the pool tests run in spawned children (importable by module path)."""

from __future__ import annotations

import os
import resource
import time
from typing import Any


def echo(payload: Any) -> Any:
    return payload


def halve(packed: tuple[str, list[int]]) -> list[int]:
    """A child's ``unpack``: the payloads a test's ``pack`` doubled, each with a mark."""
    mark, doubled = packed
    assert mark == "packed"
    return [value // 2 for value in doubled]


def whoami(payload: Any) -> tuple[Any, int]:
    time.sleep(0.02)  # long enough that every child gets a share
    return payload, os.getpid()


def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin(seconds: float) -> float:
    """Busy CPU work that no signal handler interrupts (a C-level loop stand-in)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def die(code: int) -> None:
    os._exit(code)


def fail(message: str) -> None:
    raise ValueError(message)


def allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def address_limit(_: Any) -> int:
    return resource.getrlimit(resource.RLIMIT_AS)[0]


def thread_env(_: Any) -> str | None:
    return os.environ.get("OMP_NUM_THREADS")


def unpicklable_result(_: Any) -> Any:
    return lambda: None  # a lambda cannot cross the pipe


class DiesOnArrival:
    """Unpickling it exits the child: a payload that kills before any item has started."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return os._exit, (3,)


def niceness(_: Any) -> int:
    return os.nice(0)
