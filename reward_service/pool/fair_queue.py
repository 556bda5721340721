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
    """One ``map`` call: its results fill in as items settle, and ``done`` resolves with the
    last (one future per request, not one per item)."""

    done: asyncio.Future[None]
    results: list[Any]
    remaining: int
    items: deque[Item] = field(default_factory=deque)  # waiting to be taken
    queued: bool = False  # among the lines being served
    closed: bool = False  # its caller has gone: nothing more is run or settled for it
    service_s: float = 0.0  # child time charged so far

    @classmethod
    def of(cls, size: int, loop: asyncio.AbstractEventLoop) -> Request:
        done = loop.create_future()
        if size == 0:
            done.set_result(None)
        return cls(done, [_PENDING] * size, size)


@dataclass(slots=True, eq=False)
class Item:
    payload: Any
    size: int
    request: Request
    index: int
    requeues: int = 0  # times sent back as a suspect
    kind: Hashable = None  # items of one kind share a time estimate and a chunk

    @property
    def settled(self) -> bool:
        return self.request.closed or self.request.results[self.index] is not _PENDING

    def settle(self, value: Any) -> None:
        """Record this item's value (the first one given wins)."""
        if self.settled:
            return
        request = self.request
        request.results[self.index] = value
        request.remaining -= 1
        if request.remaining == 0 and not request.done.done():
            request.done.set_result(None)


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

    def cost(self, chunk: Sequence[Item]) -> float:
        """A chunk's estimated child time (what :meth:`take` charged for it)."""
        return len(chunk) * self.kind_s.get(chunk[0].kind, self.first_item_s) if chunk else 0.0

    def learn(self, chunk: Sequence[Item], seconds: float) -> None:
        """A chunk took ``seconds`` to run: update its kind's time per item (the first measure
        replaces the starting guess) and the overall one."""
        if not chunk:
            return
        per_item, kind = seconds / len(chunk), chunk[0].kind
        known = self.kind_s.get(kind)
        self.kind_s[kind] = per_item if known is None else 0.5 * known + 0.5 * per_item
        self.item_s = 0.9 * self.item_s + 0.1 * per_item

    def add(self, request: Request, items: Sequence[Item]) -> None:
        request.items.extend(items)
        self.queued += len(items)
        self._rotate_in(request)

    def withdraw(self, request: Request) -> None:
        """Forget what ``request`` still has queued (it is done, or its caller went away)."""
        self.queued -= len(request.items)
        request.items.clear()
        if request.queued:
            request.queued = False
            self._lines.remove(request)

    def take(self) -> list[Item]:
        """The next chunk of the least-served request; empty when nothing waits. The request is
        charged the chunk's :meth:`cost` now; the pool corrects that with :meth:`charge`."""
        while self._lines:
            request = min(self._lines, key=_served)
            chunk = self._take_from(request)
            if not request.items:
                request.queued = False
                self._lines.remove(request)
            if chunk:
                request.service_s += self.cost(chunk)
                return chunk
        return []

    def requeue(self, items: Sequence[Item], suspect: bool = False) -> list[Item]:
        """Put ``items`` back at the head of their lines, in order; returns the suspects sent
        back too often, which the caller must settle."""
        given_up = []
        for item in reversed(items):
            if item.settled:
                continue
            if suspect:
                item.requeues += 1
                if item.requeues > self.max_requeues:
                    given_up.append(item)
                    continue
            item.request.items.appendleft(item)
            self.queued += 1
            self._rotate_in(item.request)
        return given_up[::-1]

    def drain(self) -> list[Item]:
        """Everything still queued, removed."""
        items = [item for request in self._lines for item in request.items]
        for request in list(self._lines):
            self.withdraw(request)
        return items

    def _rotate_in(self, request: Request) -> None:
        """Start serving a line, level with the least-served one (no credit for time away)."""
        if request.items and not request.queued:
            if self._lines:
                request.service_s = max(request.service_s, min(map(_served, self._lines)))
            request.queued = True
            self._lines.append(request)

    def _take_from(self, request: Request) -> list[Item]:
        items = request.items
        limit = max(1, min(self.max_items, len(request.results) // (2 * self.children)))
        if items:
            per_item = self.kind_s.get(items[0].kind, self.first_item_s)
            limit = min(limit, max(1, round(self.target_s / per_item)))
        chunk: list[Item] = []
        size = 0
        while items and len(chunk) < limit:
            item = items[0]
            if chunk and (
                item.requeues or size + item.size > self.max_bytes or item.kind != chunk[0].kind
            ):
                break
            items.popleft()
            self.queued -= 1
            if item.settled:  # its caller went away
                continue
            chunk.append(item)
            size += item.size
            if item.requeues:  # a suspect goes alone: if it kills again, it is known
                break
        return chunk


def _served(request: Request) -> float:
    return request.service_s
