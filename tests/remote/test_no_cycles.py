"""A piece sent to a remote worker is freed by reference count, its body with it.

The router's GC policy (``reward_service.gc_policy``) collects cycles rarely, so anything a call
leaves in a reference cycle stays in memory until then: with httpx's client, every response
(holding its request's body) did, and the router grew by the bodies it had sent. These tests run
``RemoteBackend`` with the collector off and then ask it what only a collection would free.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from devtools.live import InThreadServer, LiveServer
from devtools.ports import free_port
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.contract.task import Task
from reward_service.remote.backend import RemoteBackend

BIG = 100_000  # bytes: a buffer this large in cyclic garbage is a body (or an answer)


def long_task(i: int) -> Task:
    """A long chain of thought, as RL traffic sends: each piece's body is megabytes."""
    response = f"<think>{'let me re-check the sum. ' * 2000}</think> \\boxed{{{i}}}"
    return Task("math", VERIFIERS.get("math").params(), response, f'"{i}"', None, Context())


class Refuses(InThreadServer):
    """A worker that is up and answers every piece with ``status`` (429, 503, 422)."""

    def __init__(self, status: int) -> None:
        self.app = FastAPI()

        @self.app.post("/v1/tasks")
        async def tasks() -> Response:
            return Response(b'{"detail": "no"}', status_code=status, headers={"Retry-After": "0"})

        @self.app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ready"}

        super().__init__()


@pytest.fixture(scope="module")
def worker() -> Iterator[LiveServer]:
    live = LiveServer.start("worker", "rules", RAAS_POOL_WORKERS="1")
    yield live
    live.stop()


def cyclic_garbage(urls: list[str], batches: int) -> list[Any]:
    """What a full collection finds unreachable after ``batches`` batches of 8 long tasks,
    scored with the collector off (one batch first, so start-up's objects are not counted)."""

    async def main() -> list[Any]:
        # never ejected: every batch of a refusing worker reaches it
        backend = RemoteBackend(
            urls, backoff_s=0.0, attempts=2, retry_budget_s=0.0, eject_after=1_000
        )
        await backend.start()
        try:
            await backend.run([long_task(i) for i in range(8)])
            gc.collect()
            gc.disable()
            for _ in range(batches):
                outcomes = await backend.run([long_task(i) for i in range(8)])
                assert len(outcomes) == 8
            return found_by_collection()
        finally:
            gc.enable()
            await backend.close()

    return asyncio.run(main())


def found_by_collection() -> list[Any]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def held_bytes(garbage: list[Any]) -> int:
    """Bytes of large buffers that objects in ``garbage`` refer to."""
    buffers = {
        id(ref): len(ref)
        for obj in garbage
        for ref in gc.get_referents(obj)
        if isinstance(ref, bytes | bytearray | str) and len(ref) >= BIG
    }
    return sum(buffers.values())


def httpx_objects(garbage: list[Any]) -> list[str]:
    return sorted({type(o).__name__ for o in garbage if type(o).__module__.startswith("httpx")})


def test_scored_pieces_leave_no_cycle_holding_their_bodies(worker: LiveServer) -> None:
    garbage = cyclic_garbage([worker.url, worker.url], batches=5)
    assert (httpx_objects(garbage), held_bytes(garbage)) == ([], 0)


@pytest.mark.parametrize("status", [429, 503, 422])
def test_refused_pieces_leave_no_cycle_holding_their_bodies(status: int) -> None:
    with Refuses(status) as refusing:
        garbage = cyclic_garbage([refusing.url], batches=3)
    assert (httpx_objects(garbage), held_bytes(garbage)) == ([], 0)


def test_pieces_for_a_dead_worker_leave_no_cycle_holding_their_bodies() -> None:
    """Connection refused: the error path (an exception with its traceback) frees them too."""
    garbage = cyclic_garbage([f"http://127.0.0.1:{free_port()}"], batches=3)
    assert held_bytes(garbage) == 0
    assert not [o for o in garbage if isinstance(o, httpx.Request | httpx.Response)]
