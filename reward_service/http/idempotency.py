"""Idempotent ``POST /reward``: a retried batch is answered from memory, not scored twice.

A trainer's client sends an ``Idempotency-Key`` header (a fresh UUID per batch) and resends the
same key when it retries that batch after a dropped connection, a timeout or a 502/503/504. The
router keeps the response bytes of recent keys (at most ``RAAS_IDEMPOTENCY_CACHE_SIZE`` entries and
``RAAS_IDEMPOTENCY_CACHE_BYTES`` bytes, each for ``RAAS_IDEMPOTENCY_TTL_S`` seconds) and the
*in-flight* scoring of a key: a retry that arrives while the first attempt is still being scored
waits for that same result instead of starting a second one. A response over
``RAAS_IDEMPOTENCY_MAX_ENTRY_BYTES`` is not kept once sent: a retry of that batch after its
answer is scored again (correctly, at the cost of the compute). Scoring is deterministic, so the
cache saves compute and keeps metrics from counting a batch twice; it never changes a reward.

A key is bound to a digest of its body: the same key with a different body is a client bug and
gets HTTP 422 rather than someone else's rewards. Keys are scoped by the API key the request
presents (a digest of it, never the key itself, is held): two trainers with different API keys
may use the same ``Idempotency-Key`` — their own counter, a run name — without refusing or
replaying each other's batches. Failed attempts (a 422, a crash) are not
remembered, so a retry of those scores again. The cache is per router process. Within one
``raas serve`` of several router processes (``RAAS_ROUTERS``) a keyed batch is always scored by
the process that owns its key (``reward_service.http.siblings``: the others pass it on), so a retry
on any connection finds it; a retry that arrives while that process is restarting is scored
where it lands. Behind several router replicas (pods), route on the header (session affinity) or
accept that a retry landing on another replica is scored again — still correctly.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reward_service.contract.errors import RequestError, detail

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 200
_THREAD_AT = 1 << 20  # bytes: smaller bodies are hashed on the loop (under 2 ms)


@dataclass(slots=True)
class _Entry:
    digest: bytes
    expires: float
    result: asyncio.Task[bytes]
    size: int = 0  # bytes of the answer once there is one


class IdempotencyCache:
    """Key → response bytes (or the task computing them), bounded in count, bytes and age."""

    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        max_bytes: int = 256 * 1024 * 1024,
        max_entry_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self.max_bytes, self.max_entry_bytes = max_bytes, max_entry_bytes
        self.bytes = 0  # held by finished answers
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def run(
        self,
        key: str | None,
        body: bytes | bytearray,
        compute: Callable[[], Awaitable[bytes]],
        scope: str | None = None,
    ) -> tuple[bytes, bool]:
        """``compute()``'s bytes, or those of an earlier request with ``key`` in ``scope`` (the
        caller's API key; None: unauthenticated); the flag says whether they were replayed. No
        key (or a cache of size 0): always computes."""
        if key is None or self.max_entries == 0:
            return await compute(), False
        _check_key(key)
        key = scoped(scope, key)
        digest = await _digest(body)
        now = self.clock()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.digest != digest:
                msg = "this Idempotency-Key was already used with a different body"
                raise RequestError([detail(["header", HEADER], msg, "idempotency_conflict")])
            return await asyncio.shield(entry.result), True
        # a task of its own, so that a waiter that goes away does not cancel the scoring
        task = asyncio.ensure_future(compute())
        task.add_done_callback(lambda done: self._finished(key, done))
        self._entries[key] = _Entry(digest, now + self.ttl_s, task)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
        return await asyncio.shield(task), False

    def _finished(self, key: str, task: asyncio.Task[bytes]) -> None:
        """Successes only are remembered, and only those under the size limit: a retry of a
        failed attempt (a 422, a crash) scores again. Reading the exception here also marks it
        retrieved for asyncio."""
        entry = self._entries.get(key)
        if entry is None or entry.result is not task:
            return
        if task.cancelled() or task.exception() is not None:
            self._drop(key)
            return
        entry.size = len(task.result())
        self.bytes += entry.size
        if entry.size > self.max_entry_bytes:
            self._drop(key)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        self.bytes -= self._entries.pop(key).size

    def _expire(self, now: float) -> None:
        """Drop entries past their deadline; insertion order is expiry order (one TTL)."""
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            self._drop(key)


def scoped(scope: str | None, key: str) -> str:
    """``key`` within ``scope``: a digest of the API key, so no secret is kept in the cache."""
    if scope is None:
        return "-:" + key
    return hashlib.blake2b(scope.encode("utf-8"), digest_size=16).hexdigest() + ":" + key


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_CHARS:
        msg = f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters"
        raise RequestError([detail(["header", HEADER], msg, "value_error")])


async def _digest(body: bytes | bytearray) -> bytes:
    """The body's digest; a large body's in a thread (hashlib lets go of the GIL), which keeps
    the event loop free: blake2b takes about 0.3 s for 256 MB."""
    if len(body) < _THREAD_AT:
        return hashlib.blake2b(body, digest_size=16).digest()
    return await asyncio.to_thread(lambda: hashlib.blake2b(body, digest_size=16).digest())
