"""A tier as a FIFO queue in front of a changing number of identical servers ("slots"): the
piece of the fleet model that queueing theory can check (M/D/1, a burst on c servers)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Piece:
    """One group of samples on its way through the tiers: ``work`` holds the seconds of one
    slot each tier it visits needs, in visiting order."""

    job: int
    step: int
    samples: int
    work: list[tuple[str, float]]
    sent_at: float
    stage: int = 0


@dataclass
class TierQueue:
    """Pods of ``slots_per_pod`` slots; pieces wait in arrival order (across jobs) for a free
    slot. Removing pods while their slots are busy lets those pieces finish (a drain): new
    pieces start only while ``busy < capacity``. Integrals of busy slots and of pods (ready and
    starting) over time give utilisation and pod-seconds."""

    slots_per_pod: int
    ready: int = 0
    starting: list[float] = field(default_factory=list)  # times pods become ready
    busy: int = 0
    waiting: deque[Piece] = field(default_factory=deque)
    waiting_samples: int = 0
    busy_seconds: float = 0.0
    pod_seconds: float = 0.0
    last_t: float = 0.0

    @property
    def capacity(self) -> int:
        return self.ready * self.slots_per_pod

    @property
    def replicas(self) -> int:
        return self.ready + len(self.starting)

    def advance(self, now: float) -> None:
        """Accumulate the integrals up to ``now`` (call before any change)."""
        dt = now - self.last_t
        self.busy_seconds += self.busy * dt
        self.pod_seconds += self.replicas * dt
        self.last_t = now

    def enqueue(self, piece: Piece) -> None:
        self.waiting.append(piece)
        self.waiting_samples += piece.samples

    def start_next(self) -> Piece | None:
        """The next piece to serve, if a slot is free."""
        if self.busy >= self.capacity or not self.waiting:
            return None
        piece = self.waiting.popleft()
        self.waiting_samples -= piece.samples
        self.busy += 1
        return piece

    def scale_to(self, replicas: int, now: float, cold_start_s: float) -> list[float]:
        """Add pods (ready after ``cold_start_s``; their ready times returned) or remove them,
        pods still starting first."""
        added = [now + cold_start_s] * max(0, replicas - self.replicas)
        self.starting.extend(added)
        drop = max(0, self.replicas - replicas)
        while drop and self.starting:
            self.starting.pop()
            drop -= 1
        self.ready -= drop
        return added

    def pod_ready(self, now: float) -> None:
        if now in self.starting:  # it may have been cancelled by a scale-down meanwhile
            self.starting.remove(now)
            self.ready += 1


def fifo_completions(arrivals: list[float], service: list[float], servers: int) -> list[float]:
    """Completion times of pieces arriving at ``arrivals`` (sorted) with ``service`` seconds each
    on a constant number of servers, through :class:`TierQueue` (the simulation's own queue)."""
    import heapq

    q = TierQueue(slots_per_pod=servers, ready=1)
    events: list[tuple[float, int, str, Any]] = []
    for i, t in enumerate(arrivals):
        heapq.heappush(events, (t, i, "arrive", Piece(0, i, 1, [("q", service[i])], t)))
    done = [0.0] * len(arrivals)
    seq = len(arrivals)
    while events:
        now, _, kind, piece = heapq.heappop(events)
        if kind == "arrive":
            q.enqueue(piece)
        else:
            q.busy -= 1
            done[piece.step] = now
        while (nxt := q.start_next()) is not None:
            seq += 1
            heapq.heappush(events, (now + nxt.work[0][1], seq, "done", nxt))
    return done
