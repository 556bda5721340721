"""Idempotent ``POST /reward``: a retried batch is answered from memory, not scored twice.

A trainer's client sends an ``Idempotency-Key`` header (a fresh UUID per batch) and resends the
same key when it retries that batch after a dropped connection, a timeout or a 502/503/504. The
router keeps the response bytes of recent keys (``RAAS_IDEMPOTENCY_CACHE_SIZE`` entries, each for
``RAAS_IDEMPOTENCY_TTL_S`` seconds) and the *in-flight* scoring of a key: a retry that arrives
while the first attempt is still being scored waits for that same result instead of starting a
second one. Scoring is deterministic, so the cache saves compute and keeps metrics from counting
a batch twice; it never changes a reward.

A key is bound to a digest of its body: the same key with a different body is a client bug and
gets HTTP 422 rather than someone else's rewards. Failed attempts (a 422, a crash) are not
remembered, so a retry of those scores again. The cache is per router process: behind several
router replicas, route on the header (session affinity) or accept that a retry landing on
another replica is scored again — still correctly.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reward_service.errors import RequestError

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 200


@dataclass(slots=True)
class _Entry:
    digest: bytes
    expires: float
    result: asyncio.Task[bytes]


class IdempotencyCache:
    """Key → response bytes (or the task computing them), bounded in count and age."""

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def run(
        self, key: str | None, body: bytes, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """``compute()``'s bytes, or those of an earlier request with ``key``; the flag says
        whether they were replayed. No key (or a cache of size 0): always computes."""
        if key is None or self.max_entries == 0:
            return await compute(), False
        _check_key(key)
        digest = hashlib.blake2b(body, digest_size=16).digest()
        now = time.monotonic()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.digest != digest:
                raise RequestError([{
                    "loc": ["header", HEADER], "type": "idempotency_conflict",
                    "msg": "this Idempotency-Key was already used with a different body",
                }])  # fmt: skip
            return await asyncio.shield(entry.result), True
        # a task of its own, so that a waiter that goes away does not cancel the scoring
        task = asyncio.ensure_future(compute())
        task.add_done_callback(lambda done: self._forget_failure(key, done))
        self._entries[key] = _Entry(digest, now + self.ttl_s, task)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return await asyncio.shield(task), False

    def _forget_failure(self, key: str, task: asyncio.Task[bytes]) -> None:
        """Successes only are remembered: a retry of a failed attempt (a 422, a crash) scores
        again. Reading the exception here also marks it retrieved for asyncio."""
        if task.cancelled() or task.exception() is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.result is task:
                del self._entries[key]

    def _expire(self, now: float) -> None:
        """Drop entries past their deadline; insertion order is expiry order (one TTL)."""
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            del self._entries[key]


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_CHARS:
        raise RequestError([{
            "loc": ["header", HEADER], "type": "value_error",
            "msg": f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters",
        }])  # fmt: skip
