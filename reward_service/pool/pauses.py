"""Stretches of time in which this process did not run at all: stopped by ``SIGSTOP``, a paused
container, a frozen cgroup or a stalled VM.

Its pool children were stopped with it, so an item's deadline does not count those seconds: a
freeze must not turn into a ``timeout`` verdict for whatever sample happened to be running (a
verdict has to be the same on every worker, or a router's retries and moved pieces would answer
the same sample differently). A ticker sees a pause as a wake-up that came late while the
process used no CPU; an event loop that is merely busy wakes late too, but burns CPU meanwhile,
and its children ran on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable

TICK_S = 0.1
MIN_PAUSE_S = 0.5  # shorter gaps are scheduling noise, not a freeze


class Pauses:
    def __init__(self) -> None:
        self.seen: deque[tuple[float, float]] = deque(maxlen=256)  # (resumed at, seconds lost)
        self._wall, self._cpu = time.monotonic(), time.process_time()

    async def watch(self) -> None:
        self._wall, self._cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(TICK_S)
            self.update()

    def update(self) -> None:
        """Record the pause since the last look, if there was one."""
        wall, cpu = time.monotonic(), time.process_time()
        lost = (wall - self._wall) - (cpu - self._cpu)
        if lost > MIN_PAUSE_S:
            self.seen.append((wall, lost))
        self._wall, self._cpu = wall, cpu

    def since(self, start: float) -> float:
        """Seconds this process was stopped after ``start`` (monotonic), up to now."""
        self.update()  # a deadline timer may run before the ticker after a resume
        return paused_after(self.seen, start)


def paused_after(seen: Iterable[tuple[float, float]], start: float) -> float:
    """The part of each pause (``resumed at``, ``seconds``) that fell after ``start``."""
    return sum(min(lost, max(0.0, resumed - start)) for resumed, lost in seen)
