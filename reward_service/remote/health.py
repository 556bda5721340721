"""What the router knows of its remote workers' health, and how it keeps that fresh.

A worker gets new pieces while it is ``healthy``: its ``/readyz`` answered 200 when last asked,
and it has not failed ``eject_after`` pieces in a row (an ejected worker is back once its
``/readyz`` answers 200 again). Each worker has at most one probe in flight, so a hung worker
(its probe waits out ``probe_timeout_s``) never delays the probes of the others. Probes run on
a timer (``interval_s``) and also when something happens:

- a piece fails on a worker: that worker is probed at once, so a dead one is out before the
  next piece picks it;
- no worker is healthy: a piece waiting for one has every worker probed every
  ``PROBE_SPACING_S``, and wakes as soon as one turns healthy, not on the timer;
- a piece has been out on a worker for a while with no answer: the worker is probed, and
  ``heard`` (the time of its latest answer of any kind) tells a live worker that is busy from
  one that stopped answering (frozen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from reward_service.http.outbound import AcyclicAsyncClient

logger = logging.getLogger("raas.remote")
PROBE_SPACING_S = 0.2  # while pieces wait for any worker: often enough to resume within it


@dataclass(slots=True, eq=False)
class Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive
    ready: bool = True  # its /readyz answered 200 when last asked
    ejected: bool = False  # failed eject_after times in a row, until /readyz answers 200
    heard: float = -math.inf  # monotonic time of its latest answer (to a piece or a probe)
    probe: asyncio.Task[None] | None = None
    probed: float = -math.inf  # when the latest probe was sent
    revive: bool = False  # the probe in flight lifts an ejection if it answers 200
    retired: bool = False  # gone from discovery: no new pieces, leaves once it has none

    @property
    def healthy(self) -> bool:
        return self.ready and not self.ejected and not self.retired


class Endpoints:
    """The workers of one family, their health, and the probes that keep it fresh."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        eject_after: int = 2,
        interval_s: float = 2.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.all = [Endpoint(url.rstrip("/")) for url in urls]
        self.eject_after, self.interval_s, self.probe_timeout_s = (
            eject_after,
            interval_s,
            probe_timeout_s,
        )
        self._client: AcyclicAsyncClient | None = None
        self._watch: asyncio.Task[None] | None = None
        self._back: asyncio.Event | None = None  # set, then replaced, when one turns healthy

    def start(self, client: AcyclicAsyncClient) -> None:
        self._client, self._back = client, asyncio.Event()
        self._watch = asyncio.create_task(self._on_timer())

    async def close(self) -> None:
        probes = [e.probe for e in self.all if e.probe is not None]
        for task in [self._watch, *probes]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def sync(self, urls: Sequence[str]) -> None:
        """The worker set becomes ``urls`` (discovery): a new one joins, healthy until its first
        probe (sent at once) says otherwise; one no longer named takes no new pieces and is
        dropped once it has none in flight; one named again comes back."""
        wanted = dict.fromkeys(url.rstrip("/") for url in urls)
        known = {e.url: e for e in self.all}
        for url in wanted:
            endpoint = known.get(url)
            if endpoint is None:
                endpoint = Endpoint(url)
                self.all.append(endpoint)
                logger.info("worker %s discovered", url)
            elif endpoint.retired:
                endpoint.retired = False
                logger.info("worker %s discovered again", url)
            else:
                continue  # known and kept: the health timer probes it
            self.probe(endpoint, revive=False)
        for endpoint in self.all:
            if endpoint.url not in wanted and not endpoint.retired:
                endpoint.retired = True
                logger.info("worker %s gone from discovery: no new pieces", endpoint.url)
        self.all = [e for e in self.all if not (e.retired and e.in_flight == 0)]
        if any(e.healthy for e in self.all):
            self._wake()

    def pick(self, exclude: Collection[Endpoint] = ()) -> Endpoint | None:
        """The healthy worker with the fewest pieces in flight (ties drawn at random)."""
        healthy = [e for e in self.all if e.healthy and e not in exclude]
        if not healthy:
            return None
        least = min(e.in_flight for e in healthy)
        return random.choice([e for e in healthy if e.in_flight == least])

    async def healthy(self, until: float) -> Endpoint | None:
        """A healthy worker now, or the first to turn healthy before ``until`` (monotonic);
        meanwhile every worker is probed every ``PROBE_SPACING_S``."""
        while (endpoint := self.pick()) is None:
            left = until - time.monotonic()
            if left <= 0 or self._back is None:
                return None
            back = self._back
            for e in self.all:
                self.probe(e, revive=True, spacing=PROBE_SPACING_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(back.wait(), min(left, PROBE_SPACING_S))
        return endpoint

    def failed(self, endpoint: Endpoint) -> None:
        """A piece failed there: ejected after ``eject_after`` in a row, and probed at once."""
        endpoint.failures += 1
        if endpoint.failures >= self.eject_after and not endpoint.ejected:
            endpoint.ejected = True
            logger.warning("worker %s taken out after %d failures", endpoint.url, endpoint.failures)
        self.probe(endpoint, revive=False)

    def probe(self, endpoint: Endpoint, *, revive: bool, spacing: float = 0.0) -> None:
        """Ask its ``/readyz`` unless a probe is in flight or one went out within ``spacing``."""
        endpoint.revive = endpoint.revive or revive
        busy = endpoint.probe is not None and not endpoint.probe.done()
        if busy or self._client is None or time.monotonic() - endpoint.probed < spacing:
            return
        endpoint.probed = time.monotonic()
        endpoint.probe = asyncio.create_task(self._check(endpoint))

    async def _on_timer(self) -> None:
        while True:
            for endpoint in self.all:
                self.probe(endpoint, revive=True)
            await asyncio.sleep(self.interval_s)

    async def _check(self, endpoint: Endpoint) -> None:
        assert self._client is not None
        url = endpoint.url + "/readyz"
        try:
            ok = (await self._client.get(url, timeout=self.probe_timeout_s)).status_code == 200
            endpoint.heard = time.monotonic()
        except Exception:  # no answer (see RemoteBackend._post): not ready
            ok = False
        was = endpoint.healthy
        endpoint.ready = ok
        if ok and endpoint.revive and endpoint.ejected:
            endpoint.ejected, endpoint.failures = False, 0
        endpoint.revive = False
        if endpoint.healthy and not was:
            logger.info("worker %s is back", endpoint.url)
            self._wake()
        elif was and not ok:
            logger.warning("worker %s failed its /readyz: taken out", endpoint.url)

    def _wake(self) -> None:
        """Wake every piece waiting in :meth:`healthy`."""
        if self._back is not None:
            self._back.set()
            self._back = asyncio.Event()
