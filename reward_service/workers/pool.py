"""A pool of spawned child processes with a hard per-item deadline.

Items are handed to children in small chunks; a child answers item by item, so the parent knows
which item is running and since when. An item that overruns its deadline has its child killed
(SIGKILL: C-level work such as a 10^10^10 power cannot be interrupted any other way) and
replaced; the item fails with ``timeout`` and the rest of its chunk goes back to the head of the
queue. A child that dies fails its current item with ``crash``. Children cap their address space
(RLIMIT_AS) and die with the parent (PR_SET_PDEATHSIG), so no orphan outlives the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Literal

logger = logging.getLogger("raas.pool")

FailureKind = Literal["timeout", "crash", "error", "closed"]
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an item produced no value."""

    kind: FailureKind
    message: str


@dataclass(slots=True)
class _Item:
    payload: Any
    future: asyncio.Future[Any]


@dataclass(slots=True, eq=False)
class _Child:
    process: BaseProcess
    conn: Connection
    ready: bool = False


# ----------------------------------------------------------------------------- child side


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


def _run_one(fn: Callable[[Any], Any], payload: Any) -> tuple[bool, Any]:
    try:
        return True, fn(payload)
    except MemoryError:
        return False, "worker memory limit exceeded"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:2000]


def _child_main(conn: Connection, target: str, init: str | None, memory_mb: int) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    _limit_memory(memory_mb)
    fn = _resolve(target)
    if init:
        _resolve(init)()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for payload in chunk:
            _reply(conn, _run_one(fn, payload))


def _reply(conn: Connection, result: tuple[bool, Any]) -> None:
    try:
        conn.send(result)  # pickles fully before writing, so a failure leaves the pipe clean
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        conn.send((False, f"result could not be sent back: {exc!r}"[:2000]))


# ---------------------------------------------------------------------------- parent side


class ProcessPool:
    """Runs ``target(payload)`` (a ``"module:function"``) in ``size`` spawned children.

    ``await pool.map(payloads)`` returns, in order, each target's value or a :class:`Failure`.
    Concurrent ``map`` calls share the children; the event loop never runs the target itself.
    """

    def __init__(
        self,
        target: str,
        *,
        size: int,
        deadline_s: float,
        memory_mb: int = 4096,
        init: str | None = None,
        start_timeout_s: float = 120.0,
        max_chunk: int = 32,
        spares: int = 1,
        on_restart: Callable[[FailureKind], None] | None = None,
    ) -> None:
        self.target, self.init = target, init
        self.size, self.deadline_s, self.memory_mb = size, deadline_s, memory_mb
        self.start_timeout_s, self.max_chunk, self.spares = start_timeout_s, max_chunk, spares
        self.on_restart = on_restart
        self.busy = 0
        self.restarts = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._children: list[_Child | None] = [None] * size
        self._spares: list[_Child] = []  # started and ready, waiting to replace a killed child
        self._all: set[_Child] = set()  # every child not yet reaped, spares included
        self._tasks: list[asyncio.Task[None]] = []
        self._refill: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def ready(self) -> int:
        """Children that are alive and accepting work."""
        return sum(1 for c in self._children if c is not None and c.ready and c.process.is_alive())

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children if c is not None and c.process.pid]

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        started = await asyncio.gather(
            *(self._start_child() for _ in range(self.size + self.spares))
        )
        self._children = list(started[: self.size])
        self._spares = list(started[self.size :])
        self._tasks = [asyncio.create_task(self._serve(i)) for i in range(self.size)]

    async def map(self, payloads: Sequence[Any]) -> list[Any]:
        if self._closed or self._wakeup is None:
            return [Failure("closed", "worker pool is not running")] * len(payloads)
        loop = asyncio.get_running_loop()
        items = [_Item(p, loop.create_future()) for p in payloads]
        self._pending.extend(items)
        self._wakeup.set()
        return list(await asyncio.gather(*(item.future for item in items)))

    async def close(self) -> None:
        self._closed = True
        tasks = [*self._tasks, *([self._refill] if self._refill else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for child in self._all:
            with contextlib.suppress(OSError, ValueError):
                child.conn.send(None)
        await asyncio.gather(*(self._reap(child, grace_s=2.0) for child in list(self._all)))
        self._children, self._spares = [None] * self.size, []
        while self._pending:
            _settle(self._pending.popleft(), Failure("closed", "worker pool closed"))

    # -- children

    async def _start_child(self) -> _Child:
        # Spawned from the event-loop thread on purpose: PR_SET_PDEATHSIG fires when the
        # spawning *thread* exits, so a short-lived helper thread would kill the child early.
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_child_main,
            args=(child_conn, self.target, self.init, self.memory_mb),
            name="raas-pool",
            daemon=True,
        )
        process.start()
        child_conn.close()
        child = _Child(process, parent_conn)
        self._all.add(child)  # from here on close() reaps it, even if we are cancelled
        try:
            tag, _ = await _recv(parent_conn, self.start_timeout_s)
            if tag != "ready":
                raise RuntimeError(f"unexpected start message {tag!r}")
        except (TimeoutError, EOFError, OSError, RuntimeError) as exc:
            await self._reap(child, grace_s=0)
            raise RuntimeError(f"pool child failed to start: {exc!r}") from exc
        child.ready = True
        return child

    async def _replace(self, index: int, kind: FailureKind) -> None:
        """Swap in a warm spare at once (or start a child), then top the spares up."""
        old, self._children[index] = self._children[index], None
        if old is not None:
            await self._reap(old, grace_s=0)
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart(kind)
        if self._spares:
            self._children[index] = self._spares.pop()
        else:
            self._children[index] = await self._start_retrying()
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self._refill_spares())

    async def _refill_spares(self) -> None:
        while not self._closed and len(self._spares) < self.spares:
            self._spares.append(await self._start_retrying())

    async def _start_retrying(self) -> _Child:
        while True:
            try:
                return await self._start_child()
            except RuntimeError:
                logger.exception("pool child failed to start; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _reap(self, child: _Child, grace_s: float) -> None:
        deadline = time.monotonic() + grace_s
        while child.process.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if child.process.is_alive():
            child.process.kill()
        while child.process.exitcode is None:
            await asyncio.sleep(0.005)
        child.process.join(timeout=0)
        child.conn.close()
        self._all.discard(child)

    # -- scheduling

    def _take_chunk(self) -> list[_Item]:
        size = max(1, min(self.max_chunk, len(self._pending) // (2 * self.size)))
        chunk: list[_Item] = []
        while self._pending and len(chunk) < size:
            item = self._pending.popleft()
            if not item.future.done():  # its request was cancelled
                chunk.append(item)
        return chunk

    async def _serve(self, index: int) -> None:
        assert self._wakeup is not None
        while not self._closed:
            chunk = self._take_chunk()
            if not chunk:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._pending:
                self._wakeup.set()  # let an idle sibling take the next chunk
            self.busy += 1
            try:
                await self._run_chunk(index, chunk)
            except Exception as exc:  # a bug or an unpicklable value fails its chunk, not the pool
                logger.exception("pool child %d failed a chunk", index)
                for item in chunk:
                    _settle(item, Failure("error", f"worker pool error: {exc!r}"[:2000]))
                await self._replace(index, "error")
            finally:
                self.busy -= 1

    async def _run_chunk(self, index: int, chunk: list[_Item]) -> None:
        child = self._children[index]
        if child is None or not child.process.is_alive():
            await self._replace(index, "crash")
            child = self._children[index]
            assert child is not None
        try:
            child.conn.send([item.payload for item in chunk])
        except (OSError, ValueError):
            self._requeue(chunk)
            await self._replace(index, "crash")
            return
        position = 0
        while position < len(chunk):
            position, failure = await self._collect(child, chunk, position)
            if failure is None:
                continue
            if failure.kind == "crash":
                await self._reap(child, grace_s=0.5)
                failure = Failure("crash", f"worker died (exit code {child.process.exitcode})")
            _settle(chunk[position], failure)
            self._requeue(chunk[position + 1 :])
            await self._replace(index, failure.kind)
            return

    async def _collect(
        self, child: _Child, chunk: list[_Item], position: int
    ) -> tuple[int, Failure | None]:
        """Wait up to the deadline for the item at ``position``, then take every result that
        has arrived (one wake-up for many results). Returns the next position, and why the
        item there failed if it did."""
        try:
            await _readable(child.conn, self.deadline_s)
            while position < len(chunk) and child.conn.poll():
                ok, value = child.conn.recv()
                _settle(chunk[position], value if ok else Failure("error", value))
                position += 1
        except TimeoutError:
            return position, Failure("timeout", f"exceeded the {self.deadline_s:g} s deadline")
        except (EOFError, OSError):
            return position, Failure("crash", "worker died")
        return position, None

    def _requeue(self, items: list[_Item]) -> None:
        self._pending.extendleft(reversed(items))
        if items and self._wakeup is not None:
            self._wakeup.set()


def _settle(item: _Item, value: Any) -> None:
    if not item.future.done():
        item.future.set_result(value)


async def _recv(conn: Connection, timeout: float) -> Any:
    """``conn.recv()`` without blocking the event loop; ``TimeoutError`` after ``timeout``."""
    await _readable(conn, timeout)
    return conn.recv()


async def _readable(conn: Connection, timeout: float) -> None:
    """Wait until ``conn`` has data (or EOF); ``TimeoutError`` after ``timeout`` seconds.

    A reader callback and a timer on one future: no task per wait, unlike ``wait_for``.
    """
    if conn.poll():
        return
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, _resolve_once, ready, True)
    timer = loop.call_later(timeout, _resolve_once, ready, False)
    try:
        if not await ready:
            raise TimeoutError
    finally:
        loop.remove_reader(fd)
        timer.cancel()


def _resolve_once(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
