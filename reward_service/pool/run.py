"""A child as the parent sees it, a chunk encoded for it and running on it, and waiting for a
process to exit."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from reward_service.contract.errors import error_text
from reward_service.contract.task import Failure
from reward_service.pool.channel import Channel
from reward_service.pool.child import split_position
from reward_service.pool.fair_queue import Chunk


@dataclass(slots=True, eq=False)
class Child:
    process: BaseProcess
    channel: Channel
    progress: Any  # shared doubles: [position(chunk, index), start time of that item]
    chunks: int = 0


@dataclass(slots=True, eq=False)
class Run:
    """One chunk on one child: how far its results have come, and what it is running."""

    child: Child
    chunk_id: int
    chunk: Chunk
    sent_at: float
    done: int = 0
    last_at: float = 0.0

    def take(self, messages: deque[Any]) -> None:
        settle, indices = self.chunk.request.settle, self.chunk.indices
        while messages:
            for ok, value in messages.popleft():
                settle(indices[self.done], value if ok else Failure("error", value))
                self.done += 1
            self.last_at = time.monotonic()

    def running(self, deadline_s: float) -> tuple[int, float]:
        """The index of the item running now and when it overruns. Before the child reports
        the next item, that item counts as started at the last sign of life."""
        position, started = self.child.progress[0], self.child.progress[1]
        chunk_id, index = split_position(position)
        if chunk_id != self.chunk_id or index < self.done:
            return self.done, max(self.sent_at, self.last_at) + deadline_s
        return index, max(started, self.sent_at) + deadline_s

    def started(self, index: int) -> bool:
        chunk_id, reported = split_position(self.child.progress[0])
        return chunk_id == self.chunk_id and reported == index and index >= self.done


def encode(
    chunk_id: int, chunk: Chunk, pack: Callable[[list[Any]], Any] | None = None
) -> tuple[bytes, Chunk]:
    """The pickled message for a chunk (its payloads through ``pack`` where given), and the
    chunk; an item whose payload cannot cross to a child fails with ``error`` and is left out."""
    try:
        return _dumps(chunk_id, chunk, pack), chunk
    except Exception:
        pass
    request, good = chunk.request, Chunk(chunk.request, [], chunk.kind)
    for index in chunk.indices:
        try:
            pickle.dumps(request.payloads[index], protocol=pickle.HIGHEST_PROTOCOL)
            good.indices.append(index)
        except Exception as exc:
            reason = error_text(exc, "task could not be sent to a worker")
            request.settle(index, Failure("error", reason))
    return (_dumps(chunk_id, good, pack) if good.indices else b""), good


def _dumps(chunk_id: int, chunk: Chunk, pack: Callable[[list[Any]], Any] | None) -> bytes:
    payloads = chunk.payloads()
    packed = payloads if pack is None else pack(payloads)
    return pickle.dumps((chunk_id, packed), protocol=pickle.HIGHEST_PROTOCOL)


async def stop(process: BaseProcess, grace_s: float) -> None:
    """Wait up to ``grace_s`` for ``process`` to exit, then SIGKILL it; reap it either way."""
    if not await exited(process, grace_s):
        process.kill()
        await exited(process, None)
    process.join()  # its sentinel has closed: the exit is a matter of microseconds


async def exited(process: BaseProcess, timeout_s: float | None) -> bool:
    """Whether ``process`` exits within ``timeout_s`` (its sentinel turns readable at exit)."""
    if process.exitcode is not None:
        return True
    if timeout_s is not None and timeout_s <= 0:
        return False
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bool] = loop.create_future()
    loop.add_reader(process.sentinel, resolve, answer, True)
    timer = None if timeout_s is None else loop.call_later(timeout_s, resolve, answer, False)
    try:
        return await answer
    finally:
        loop.remove_reader(process.sentinel)
        if timer is not None:
            timer.cancel()


def resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
