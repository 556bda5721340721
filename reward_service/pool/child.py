"""What a pool child runs: take a chunk, run each item, report results and progress.

Before each item the child writes (chunk, index) and the start time into memory it shares with
the parent, so the parent knows which item is running and since when without a message per item.
Results go back in batches: at the end of a chunk, or once ``FLUSH_S`` has passed since the last
batch, so a slow chunk still reports steadily and a fast one costs one message.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from reward_service.contract.errors import error_text
from reward_service.gc_policy import tune_gc

FLUSH_S = 0.02
NICENESS = 5  # below the router: its event loop (probes, I/O, other requests) never waits on us
INDEX_BITS = 20  # a chunk holds fewer than 2**20 items
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
Result = tuple[bool, Any]  # (True, value) or (False, error message)


def position(chunk_id: int, index: int) -> float:
    """(chunk, index) as one float: a single aligned store, never seen half-written."""
    return float((chunk_id << INDEX_BITS) | index)


def split_position(value: float) -> tuple[int, int]:
    whole = int(value)
    return whole >> INDEX_BITS, whole & ((1 << INDEX_BITS) - 1)


def child_main(
    conn: Connection,
    target: str,
    init: str | None,
    init_args: tuple[Any, ...],
    memory_mb: int,
    progress: Any,
    unpack: str | None = None,
) -> None:
    """The child process: set itself up, say ready, then serve chunks until told to stop.
    ``unpack`` (``"module:function"``) turns what the parent's ``pack`` sent back into payloads."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    for name in THREAD_ENV:
        os.environ[name] = "1"
    _limit_memory(memory_mb)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    fn = resolve(target)
    payloads_of = resolve(unpack) if unpack else None
    if init:
        resolve(init)(*init_args)
    tune_gc()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        chunk_id, payloads = message
        if payloads_of is not None:
            payloads = payloads_of(payloads)
        run_chunk(conn, fn, chunk_id, payloads, progress)


def run_chunk(
    conn: Connection,
    fn: Callable[[Any], Any],
    chunk_id: int,
    payloads: Sequence[Any],
    progress: Any,
) -> None:
    results: list[Result] = []
    flushed = time.monotonic()
    for index, payload in enumerate(payloads):
        progress[1] = time.monotonic()  # start time first, then the position (the parent
        progress[0] = position(chunk_id, index)  # reads the position first)
        results.append(run_one(fn, payload))
        if time.monotonic() - flushed >= FLUSH_S:
            _reply(conn, results)
            results, flushed = [], time.monotonic()
    if results:
        _reply(conn, results)


def run_one(fn: Callable[[Any], Any], payload: Any) -> Result:
    try:
        return True, fn(payload)
    except MemoryError:
        return False, "worker memory limit exceeded"
    except Exception as exc:
        return False, error_text(exc)


def resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


def _reply(conn: Connection, results: list[Result]) -> None:
    """Send a batch; if it cannot be pickled, send each result alone, unpicklable ones as errors.
    ``Connection.send`` pickles fully before writing, so a failure leaves the pipe clean."""
    try:
        conn.send(results)
    except Exception:
        for result in results:
            try:
                conn.send([result])
            except Exception as exc:
                conn.send([(False, error_text(exc, "result could not be sent back"))])


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
