"""A pool of spawned child processes with a hard per-item deadline and a fair share per request.

Each ``map`` call is a request with a line of its own in a :class:`FairQueue`; idle children
take chunks from the lines in turn, so one request holding slow or hanging items cannot make
another wait for more than about one item deadline. The queue as a whole is bounded: past
``max_queue`` items ``map`` raises :class:`OverloadedError` (HTTP 429) instead of letting waits
grow without end. A request whose caller goes away leaves the queue.

A child reports results in batches and writes which item it is running, and since when, to
memory the parent reads (see :mod:`.child`). An item that overruns its deadline has its child
killed (SIGKILL: C-level work such as a 10^10^10 power cannot be interrupted any other way) and
replaced by a warm spare; the item fails with ``timeout`` and the items after it go back to the
head of their request. A child that dies fails its running item with ``crash``. When a child dies
before it can say which item killed it, its items go back one at a time, and an item that has gone
back ``max_requeues`` times ends as ``error``. Children cap their address space (RLIMIT_AS) and die
with the parent (PR_SET_PDEATHSIG), so no orphan outlives the server. Time in which the whole
process was stopped (a frozen container: its children stopped with it) does not count against a
deadline (:mod:`.pauses`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

from reward_service.contract.errors import OverloadedError, error_text
from reward_service.contract.schemas import Status
from reward_service.contract.task import Failure
from reward_service.pool.channel import Channel, ChannelClosedError, widen
from reward_service.pool.child import child_main
from reward_service.pool.fair_queue import Chunk, FairQueue, Request
from reward_service.pool.pauses import Pauses
from reward_service.pool.run import Child, Run, encode, stop

logger = logging.getLogger("raas.pool")

RestartReason = Literal["timeout", "crash", "error"]  # killed at the deadline / died / a bug


class ProcessPool:
    """Runs ``target(payload)`` (a ``"module:function"``) in ``size`` spawned children.

    ``await pool.map(payloads)`` returns, in order, each target's value or a :class:`Failure`.
    Concurrent ``map`` calls share the children fairly; the event loop never runs the target.
    ``size_of(payload)`` (bytes, roughly) bounds chunks by ``max_chunk_bytes``; payloads of
    one ``kind_of(payload)`` share a time estimate, by which chunks are cut at about
    ``chunk_target_s`` of child time (:mod:`.fair_queue`). ``init`` (a
    ``"module:function"``) runs in each child before it reports ready, called with ``init_args``.
    ``pack`` turns a chunk's payloads into what is pickled to the child, where ``unpack`` (a
    ``"module:function"``) turns it back (both or neither; default: the payloads as they are).
    """

    def __init__(
        self,
        target: str,
        *,
        size: int,
        deadline_s: float,
        memory_mb: int = 4096,
        init: str | None = None,
        init_args: tuple[Any, ...] = (),
        start_timeout_s: float = 120.0,
        max_chunk: int = 1024,
        max_chunk_bytes: int = 1 << 20,
        chunk_target_s: float = 0.02,
        max_queue: int = 1 << 18,
        max_requeues: int = 2,
        spares: int = 1,
        size_of: Callable[[Any], int] | None = None,
        kind_of: Callable[[Any], Hashable] | None = None,
        pack: Callable[[list[Any]], Any] | None = None,
        unpack: str | None = None,
        on_restart: Callable[[RestartReason], None] | None = None,
    ) -> None:
        if (pack is None) != (unpack is None):
            raise ValueError("pack and unpack go together")
        self.target, self.init, self.init_args = target, init, init_args
        self.pack, self.unpack = pack, unpack
        self.size, self.deadline_s, self.memory_mb = size, deadline_s, memory_mb
        self.start_timeout_s, self.spares = start_timeout_s, spares
        self.max_queue = max_queue
        self.size_of, self.kind_of = size_of, kind_of
        self.on_restart = on_restart
        self.busy = 0
        self.restarts = 0
        self.queue = FairQueue(size, max_chunk, max_chunk_bytes, max_requeues, chunk_target_s)
        self._ctx = multiprocessing.get_context("spawn")
        self._wakeup: asyncio.Event | None = None
        self._children: list[Child | None] = [None] * size
        self._running: list[Chunk | None] = [None] * size
        self._spares: list[Child] = []  # started and ready, waiting to replace a killed child
        self._all: set[Child] = set()  # every child not yet reaped, spares included
        self._tasks: list[asyncio.Task[None]] = []
        self._refill: asyncio.Task[None] | None = None
        self._closed = False
        self.pauses = Pauses()

    @property
    def ready(self) -> int:
        """Children that are alive and accepting work."""
        return sum(1 for c in self._children if c is not None and c.process.is_alive())

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children if c is not None and c.process.pid]

    def retry_after_s(self) -> int:
        """A client's fair wait before retrying a refused request: the queue's drain time."""
        return max(1, min(60, math.ceil(self.queue.queued * self.queue.item_s / self.size)))

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        started = await asyncio.gather(
            *(self._start_child() for _ in range(self.size + self.spares))
        )
        self._children = list(started[: self.size])
        self._spares = list(started[self.size :])
        self._tasks = [asyncio.create_task(self._serve(i)) for i in range(self.size)]
        self._tasks.append(asyncio.create_task(self.pauses.watch()))

    async def refilled(self) -> None:
        """Return once every slot has a child and the spares are topped up again."""
        while self._refill is not None and not self._refill.done():
            await asyncio.shield(self._refill)

    async def map(self, payloads: Sequence[Any]) -> list[Any]:
        if self._closed or self._wakeup is None:
            return [Failure("unavailable", "worker pool is not running")] * len(payloads)
        queued = self.queue.queued
        if queued and queued + len(payloads) > self.max_queue:
            message = f"{queued} tasks are queued (at most {self.max_queue})"
            raise OverloadedError(message, self.retry_after_s())
        sizes = None if self.size_of is None else list(map(self.size_of, payloads))
        kinds = None if self.kind_of is None else list(map(self.kind_of, payloads))
        request = Request.of(payloads, asyncio.get_running_loop(), sizes, kinds)
        self.queue.add(request)
        self._wakeup.set()
        try:
            await request.done
            return request.results
        finally:  # a caller that went away: its queued items leave with it
            request.closed = request.remaining > 0
            self.queue.withdraw(request)

    async def close(self) -> None:
        self._closed = True
        tasks = [*self._tasks, *([self._refill] if self._refill else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for child in self._all:
            with contextlib.suppress(OSError, TimeoutError):
                await child.channel.send(None, 0.5)
        await asyncio.gather(*(self._reap(child, grace_s=2.0) for child in list(self._all)))
        self._children, self._spares = [None] * self.size, []
        closed = Failure("unavailable", "worker pool closed")
        for chunk in [*(c for c in self._running if c is not None), *self.queue.drain()]:
            chunk.settle_all(closed)

    # -- children

    async def _start_child(self) -> Child:
        # Spawned from the event-loop thread on purpose: PR_SET_PDEATHSIG fires when the
        # spawning *thread* exits, so a short-lived helper thread would kill the child early.
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        widen(parent_conn)
        widen(child_conn)
        progress = self._ctx.RawArray("d", 2)
        process = self._ctx.Process(
            target=child_main,
            args=(
                child_conn,
                self.target,
                self.init,
                self.init_args,
                self.memory_mb,
                progress,
                self.unpack,
            ),
            name="raas-pool",
            daemon=True,
        )
        process.start()
        child_conn.close()
        child = Child(process, Channel(parent_conn), progress)
        self._all.add(child)  # from here on close() reaps it, even if we are cancelled
        try:
            message = await child.channel.receive(self.start_timeout_s)
            if not (isinstance(message, tuple) and message[:1] == ("ready",)):
                raise RuntimeError(f"unexpected start message {message!r}")
        except (TimeoutError, ChannelClosedError, RuntimeError) as exc:
            await self._reap(child, grace_s=0)
            raise RuntimeError(f"pool child failed to start: {exc!r}") from exc
        return child

    async def _replace(self, slot: int, kind: RestartReason) -> None:
        """Swap in a warm spare at once (or start a child), then top the spares up."""
        old, self._children[slot] = self._children[slot], None
        if old is not None:
            await self._reap(old, grace_s=0)
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart(kind)
        if self._spares:
            self._children[slot] = self._spares.pop()
        else:
            self._children[slot] = await self._start_retrying()
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self._refill_spares())

    async def _refill_spares(self) -> None:
        while not self._closed and len(self._spares) < self.spares:
            self._spares.append(await self._start_retrying())

    async def _start_retrying(self) -> Child:
        while True:
            try:
                return await self._start_child()
            except RuntimeError:
                logger.exception("pool child failed to start; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _reap(self, child: Child, grace_s: float) -> None:
        await stop(child.process, grace_s)
        child.channel.close()
        self._all.discard(child)

    # -- scheduling

    def _requeue(self, request: Request, indices: Sequence[int], suspect: bool = False) -> None:
        for index in self.queue.requeue(request, indices, suspect):
            times = request.requeues[index]
            message = f"its worker died {times} times before it could be scored"
            request.settle(index, Failure("error", message))
        assert self._wakeup is not None
        self._wakeup.set()

    async def _serve(self, slot: int) -> None:
        assert self._wakeup is not None
        while not self._closed:
            chunk = self.queue.take()
            if chunk is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.queue:
                self._wakeup.set()  # let an idle sibling take the next chunk
            self.busy += 1
            self._running[slot] = chunk
            started, estimate = time.monotonic(), self.queue.cost(chunk)
            try:
                await self._run_chunk(slot, chunk)
            except Exception as exc:  # a bug fails its chunk, not the pool
                logger.exception("pool child %d failed a chunk", slot)
                chunk.settle_all(Failure("error", error_text(exc, "worker pool error")))
                await self._replace(slot, "error")
            finally:
                self._running[slot] = None
                self.busy -= 1
                self.queue.charge(chunk.request, time.monotonic() - started - estimate)

    async def _run_chunk(self, slot: int, chunk: Chunk) -> None:
        child = self._children[slot]
        if child is None or not child.process.is_alive():
            await self._replace(slot, "crash")
            child = self._children[slot]
            assert child is not None
        child.chunks += 1
        data, chunk = encode(child.chunks, chunk, self.pack)
        if not chunk.indices:
            return
        run = Run(child, child.chunks, chunk, time.monotonic())
        try:
            await child.channel.send_bytes(data, self.deadline_s)
        except (TimeoutError, ChannelClosedError):
            self._requeue(chunk.request, chunk.indices, suspect=True)
            await self._replace(slot, "crash")
            return
        await self._collect(slot, run)

    async def _collect(self, slot: int, run: Run) -> None:
        """Settle results as they arrive until the chunk is done, its running item overruns
        (kill → ``timeout``), or its child dies (→ ``crash``)."""
        channel = run.child.channel
        while run.done < len(run.chunk):
            await channel.wait(self._due(run) - time.monotonic())
            run.take(channel.messages)
            if run.done == len(run.chunk):
                break
            if channel.closed:
                await self._fail(slot, run, "crash")
                return
            if time.monotonic() >= self._due(run):
                await self._fail(slot, run, "timeout")
                return
        self.queue.learn(run.chunk, time.monotonic() - run.sent_at)

    def _due(self, run: Run) -> float:
        """When the running item overruns: its deadline, plus the time this process (and so its
        child) was stopped since the item started. A pause only ever moves it later, so pauses
        are read (``process_time``: 11 µs a call, measured in a busy router here) only once the
        deadline itself is reached, not on every wake-up of every chunk."""
        _, due = run.running(self.deadline_s)
        if time.monotonic() < due:
            return due
        return due + self.pauses.since(due - self.deadline_s)

    async def _fail(self, slot: int, run: Run, kind: Literal["crash", "timeout"]) -> None:
        """The child is killed (or dead): keep the results it flushed, put a spare in its place,
        then fail the item it was running and send the others back."""
        process = run.child.process
        await stop(process, grace_s=0.5 if kind == "crash" else 0.0)
        run.child.channel.drain()
        run.take(run.child.channel.messages)
        index, _ = run.running(self.deadline_s)
        known = run.started(index)
        await self._replace(slot, kind)
        if known:
            message = (
                f"exceeded the {self.deadline_s:g} s deadline"
                if kind == "timeout"
                else f"worker died (exit code {process.exitcode})"
            )
            status: Status = "timeout" if kind == "timeout" else "error"
            run.chunk.settle(index, Failure(status, message))
            indices = run.chunk.indices
            self._requeue(run.chunk.request, indices[run.done : index] + indices[index + 1 :])
        else:
            self._requeue(run.chunk.request, run.chunk.indices[run.done :], suspect=True)
