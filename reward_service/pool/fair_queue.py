"""The pool's queue: one line per request, least-served first, chunks bounded in items and bytes.

A request (one ``ProcessPool.map`` call) queues its items in a line of its own. ``take`` serves
the line whose request has had the least child time so far (charged an estimate when a chunk
leaves, corrected by ``charge`` when it ends), and a new line starts level with the least-served
one. Requests of equal cost interleave chunk by chunk; a request whose items hang until their
deadline accumulates time fast, so a small request arriving behind it is served by the next free
child and finishes within about one deadline, however many hanging items the other holds.

A chunk holds items of one *kind* (the pool's ``kind_of``: for the rule pool, the verifier)
and is cut at about ``target_s`` of estimated child time: each kind's time per item is learned
from the chunks it ran (:meth:`FairQueue.learn`), starting from ``first_item_s``. Cheap items
then travel a few hundred at a time (one message each way per chunk: the parent's cost per item
fell from 8.1 to 3.9 µs on ``choice`` going from 32 to 512 items a chunk), slow ones a few at a
time, so a chunk holds a child for about ``target_s`` whatever it holds. It is also cut at
``max_items``, at about ``2 × children`` chunks per request (so a request spreads over the
children), and before ``max_bytes``. An item sent back after its child died without
saying which item killed it is a *suspect*: it goes out alone next time, and one sent back more
than ``max_requeues`` times is given up.

An item is an index into its request (its payload, size and kind are columns of the request, made
once by ``map``), and a chunk a list of indices: the queue makes no object per item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

_PENDING: Any = object()


@dataclass(slots=True, eq=False)
class Request:
    """One ``map`` call: its items' payloads, sizes and kinds, the index of the first item not yet
    taken (``cursor``) and those sent back, served first (``back``). Its results fill in as items
    settle, and ``done`` resolves with the last (one future per request, not one per item)."""

    done: asyncio.Future[None]
    results: list[Any]
    remaining: int
    payloads: Sequence[Any]
    sizes: Sequence[int]
    kinds: Sequence[Hashable]
    cursor: int = 0
    back: deque[int] = field(default_factory=deque)
    requeues: dict[int, int] = field(default_factory=dict)  # suspects: times each was sent back
    queued: bool = False  # among the lines being served
    closed: bool = False  # its caller has gone: nothing more is run or settled for it
    service_s: float = 0.0  # child time charged so far

    @classmethod
    def of(
        cls,
        payloads: Sequence[Any],
        loop: asyncio.AbstractEventLoop,
        sizes: Sequence[int] | None = None,
        kinds: Sequence[Hashable] | None = None,
    ) -> Request:
        size = len(payloads)
        done = loop.create_future()
        if size == 0:
            done.set_result(None)
        sizes = [0] * size if sizes is None else sizes
        kinds = [None] * size if kinds is None else kinds
        return cls(done, [_PENDING] * size, size, payloads, sizes, kinds)

    @property
    def waiting(self) -> int:
        """Items queued: sent back, or not taken yet."""
        return len(self.back) + len(self.results) - self.cursor

    def settled(self, index: int) -> bool:
        return self.closed or self.results[index] is not _PENDING

    def settle(self, index: int, value: Any) -> None:
        """Record item ``index``'s value (the first one given wins)."""
        if self.settled(index):
            return
        self.results[index] = value
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)


@dataclass(slots=True, eq=False)
class Chunk:
    """Items of one request (``indices``, in order) and of one kind, run together."""

    request: Request
    indices: list[int]
    kind: Hashable = None

    def __len__(self) -> int:
        return len(self.indices)

    def payloads(self) -> list[Any]:
        payloads = self.request.payloads
        return [payloads[i] for i in self.indices]

    def settle(self, position: int, value: Any) -> None:
        """Record the value of the item at ``position`` in this chunk."""
        self.request.settle(self.indices[position], value)

    def settle_all(self, value: Any) -> None:
        """Record ``value`` for every item of this chunk not yet settled."""
        for index in self.indices:
            self.request.settle(index, value)


class FairQueue:
    def __init__(
        self,
        children: int,
        max_items: int,
        max_bytes: int,
        max_requeues: int,
        target_s: float = 0.02,
        first_item_s: float = 0.001,
    ) -> None:
        self.children, self.max_items, self.max_bytes = children, max_items, max_bytes
        self.max_requeues, self.target_s, self.first_item_s = max_requeues, target_s, first_item_s
        self.queued = 0  # items waiting in some line
        self.item_s = 0.01  # child time per item over every kind (for retry-after estimates)
        self.kind_s: dict[Hashable, float] = {}  # child time per item, per kind
        self._lines: list[Request] = []

    def __bool__(self) -> bool:
        return bool(self._lines)

    def charge(self, request: Request, seconds: float) -> None:
        """Correct a request's account once its chunk has run (``seconds`` may be negative)."""
        request.service_s += seconds

    def cost(self, chunk: Chunk) -> float:
        """A chunk's estimated child time (what :meth:`take` charged for it)."""
        return len(chunk.indices) * self.kind_s.get(chunk.kind, self.first_item_s)

    def learn(self, chunk: Chunk, seconds: float) -> None:
        """A chunk took ``seconds`` to run: update its kind's time per item (the first measure
        replaces the starting guess) and the overall one."""
        if not chunk.indices:
            return
        per_item, kind = seconds / len(chunk.indices), chunk.kind
        known = self.kind_s.get(kind)
        self.kind_s[kind] = per_item if known is None else 0.5 * known + 0.5 * per_item
        self.item_s = 0.9 * self.item_s + 0.1 * per_item

    def add(self, request: Request) -> None:
        """Queue every item of ``request`` that is not yet taken."""
        self.queued += request.waiting
        self._rotate_in(request)

    def withdraw(self, request: Request) -> None:
        """Forget what ``request`` still has queued (it is done, or its caller went away)."""
        self.queued -= request.waiting
        request.back.clear()
        request.cursor = len(request.results)
        if request.queued:
            request.queued = False
            self._lines.remove(request)

    def take(self) -> Chunk | None:
        """The next chunk of the least-served request; ``None`` when nothing waits. The request
        is charged the chunk's :meth:`cost` now; the pool corrects that with :meth:`charge`."""
        while self._lines:
            request = min(self._lines, key=_served)
            chunk = self._take_from(request)
            if not request.waiting:
                request.queued = False
                self._lines.remove(request)
            if chunk.indices:
                request.service_s += self.cost(chunk)
                return chunk
        return None

    def requeue(self, request: Request, indices: Sequence[int], suspect: bool = False) -> list[int]:
        """Put ``indices`` back at the head of their line, in order; returns the suspects sent
        back too often, which the caller must settle."""
        given_up = []
        for index in reversed(indices):
            if request.settled(index):
                continue
            if suspect:
                request.requeues[index] = times = request.requeues.get(index, 0) + 1
                if times > self.max_requeues:
                    given_up.append(index)
                    continue
            request.back.appendleft(index)
            self.queued += 1
        self._rotate_in(request)
        return given_up[::-1]

    def drain(self) -> list[Chunk]:
        """Everything still queued, removed: a chunk per request."""
        chunks = [
            Chunk(r, [*r.back, *range(r.cursor, len(r.results))]) for r in self._lines if r.waiting
        ]
        for request in list(self._lines):
            self.withdraw(request)
        return chunks

    def _rotate_in(self, request: Request) -> None:
        """Start serving a line, level with the least-served one (no credit for time away)."""
        if request.waiting and not request.queued:
            if self._lines:
                request.service_s = max(request.service_s, min(map(_served, self._lines)))
            request.queued = True
            self._lines.append(request)

    def _take_from(self, request: Request) -> Chunk:
        back = request.back
        first = back[0] if back else request.cursor
        per_item = self.kind_s.get(request.kinds[first], self.first_item_s)
        limit = max(1, min(self.max_items, len(request.results) // (2 * self.children)))
        limit = min(limit, max(1, round(self.target_s / per_item)))
        chunk = Chunk(request, [])
        if back:
            alone = self._take_back(request, chunk, limit)
            if alone or back:
                return chunk
        self._take_new(request, chunk, limit)
        return chunk

    def _take_back(self, request: Request, chunk: Chunk, limit: int) -> bool:
        """Items sent back, into ``chunk`` while they fit; whether it ended on a suspect (which
        goes alone: if it kills again, it is known)."""
        back, indices, requeues = request.back, chunk.indices, request.requeues
        size = 0  # the chunk starts empty
        while back and len(indices) < limit:
            index = back[0]
            if indices and (
                index in requeues
                or size + request.sizes[index] > self.max_bytes
                or request.kinds[index] != chunk.kind
            ):
                return False
            back.popleft()
            self.queued -= 1
            if request.settled(index):  # its caller went away
                continue
            if not indices:
                chunk.kind = request.kinds[index]
            indices.append(index)
            size += request.sizes[index]
            if index in requeues:
                return True
        return False

    def _take_new(self, request: Request, chunk: Chunk, limit: int) -> None:
        """Items never taken, from the cursor on, into ``chunk`` while they fit."""
        indices, results = chunk.indices, request.results
        sizes, kinds = request.sizes, request.kinds
        size = sum(sizes[i] for i in indices)
        index, end = request.cursor, len(results)
        if request.closed:
            index = end
        while index < end and len(indices) < limit:
            if indices and (size + sizes[index] > self.max_bytes or kinds[index] != chunk.kind):
                break
            if results[index] is _PENDING:
                if not indices:
                    chunk.kind = kinds[index]
                indices.append(index)
                size += sizes[index]
            index += 1
        self.queued -= index - request.cursor
        request.cursor = index


def _served(request: Request) -> float:
    return request.service_s
