"""Every worker behind a name: a worker URL resolved to one endpoint per address, refreshed.

Behind a Kubernetes Service's one URL the router would see one worker: kept-alive connections
stay on the pods that existed when they opened, so pods the autoscaler adds get little load, and
two failures of one pod take the whole tier out. With ``RAAS_REMOTE_DISCOVERY=dns`` the router
resolves the name of each worker URL itself — a headless Service (``clusterIP: None``) answers
with the address of every ready pod, Compose with every replica of a service — and keeps one
endpoint per address, each with its own balancing, health and ejection (:mod:`.health`). The
name is resolved again every ``RAAS_REMOTE_DISCOVERY_INTERVAL_S`` (5 s: CoreDNS's TTL for
Services): a new address becomes an endpoint that gets pieces at once; an address that went
away takes no new pieces and leaves once its pieces are answered (a pod being removed drains
for its grace period; one that dies has its pieces retried elsewhere). A failed or empty
resolution keeps the previous set (a DNS hiccup must not empty the tier). The calls go to the
address, with the URL's scheme, port and path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from reward_service.remote.health import Endpoints

logger = logging.getLogger("raas.remote")
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve_dns(host: str, port: int) -> list[str]:
    """Every address ``host`` has (the system resolver: DNS, ``/etc/hosts``), sorted."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def expand(url: str, addresses: Sequence[str]) -> list[str]:
    """``url`` once per address, the host replaced (IPv6 in brackets), all else kept."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    hosts = (f"[{a}]" if ipaddress.ip_address(a).version == 6 else a for a in addresses)
    return [parts._replace(netloc=f"{host}{port}").geturl().rstrip("/") for host in hosts]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"worker URL {url!r} has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class Discovery:
    """The endpoints of ``urls``' names, kept in ``endpoints`` (:meth:`Endpoints.sync`)."""

    def __init__(
        self,
        urls: Sequence[str],
        endpoints: Endpoints,
        *,
        resolve: Resolve = resolve_dns,
        interval_s: float = 5.0,
    ) -> None:
        self.urls = [url.rstrip("/") for url in urls]
        for url in self.urls:
            _host_port(url)  # a URL without a host is a configuration error, found at start
        self.endpoints, self.resolve, self.interval_s = endpoints, resolve, interval_s
        self.found: dict[str, list[str]] = {url: [] for url in self.urls}  # URL → endpoint URLs
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Resolve once (the router starts knowing its workers), then on a timer."""
        await self.refresh()
        self._task = asyncio.create_task(self._on_timer())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        for url in self.urls:
            self.found[url] = await self._resolve(url) or self.found[url]
        self.endpoints.sync([e for url in self.urls for e in self.found[url]])

    async def _resolve(self, url: str) -> list[str]:
        host, port = _host_port(url)
        try:
            return expand(url, await self.resolve(host, port))
        except (OSError, ValueError) as exc:
            logger.warning("%s: resolving %s failed (%s); keeping its workers", url, host, exc)
            return []

    async def _on_timer(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.refresh()
