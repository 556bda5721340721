"""What a router does for its siblings (``RAAS_ROUTERS`` > 1, ``reward_service.http.supervisor``).

Every router serves the same app on the shared port and on a Unix socket of its own, which only
its siblings use (a directory of the supervisor's, mode 0700). Over those sockets:

- **Keyed batches go to their owner.** The idempotency cache is per process, and the kernel puts a
  connection on any router: a retried batch would land on another one and be scored twice. A
  ``POST /reward`` with an ``Idempotency-Key`` is owned by router ``hash(API-key scope, key) mod
  N`` (:func:`owner`); another router passes it on, body streamed as it arrives, and answers with
  the owner's status, headers and body. The cache then works unchanged, and a trainer client's
  concurrent pieces (each its own key) spread evenly over the routers whichever connection they
  use. A request passed on carries ``Raas-Forwarded`` and is never passed on again. An owner that
  is down (restarting) is not waited for: the batch is scored where it arrived (logged once), as a
  retry that lands on another replica is; one that fails mid-answer is a 503 with
  ``Retry-After``, which clients retry.
- **``/metrics`` is merged.** Prometheus scrapes one port and would see one random process: the
  router that answers scrapes its siblings (:data:`SCRAPE_TIMEOUT_S`; one that does not answer is
  left out, and counted in ``raas_routers_unscraped``) and serves one exposition (:func:`merge`).
- **``Raas-Router: <index>``** on every answer names the router that produced it (the owner, for
  a batch passed on).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reward_service.http.auth import presented
from reward_service.http.idempotency import HEADER as IDEMPOTENCY
from reward_service.http.idempotency import scoped
from reward_service.http.outbound import AcyclicAsyncClient
from reward_service.http.shutdown import retry_later

if TYPE_CHECKING:
    from fastapi import FastAPI

    from reward_service.http.supervisor import Slot

logger = logging.getLogger("raas.siblings")
FORWARDED = "raas-forwarded"
ROUTER = "raas-router"
SCRAPE_TIMEOUT_S = 2.0
# an idle connection to a sibling is dropped well before the sibling's keep-alive (5 s) closes
# it: a batch sent just as the sibling closes it would fail after its body had gone
KEEP_S = 1.0
# hop-by-hop headers, and those each HTTP server writes for itself
_NOT_PASSED = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-connection",
        b"expect",
        b"content-length",
        b"date",
        b"server",
    }
)
# gauges a sum misreads: the latest IoU threshold of a source, a model's 0/1 "loaded" flag
NOT_SUMMED: dict[str, Callable[[float, float], float]] = {
    "raas_perception_threshold": max,
    "raas_model_loaded": min,
}


def owner(scope: str | None, key: str, count: int) -> int:
    """The router that owns ``key`` presented with API key ``scope``: stable across processes
    and restarts (a digest, not Python's salted ``hash``), even over the routers."""
    digest = hashlib.blake2b(scoped(scope, key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def merge(expositions: Iterable[str], extra: Sequence[Metric] = ()) -> bytes:
    """One Prometheus text exposition of several processes': samples of the same name and labels
    are summed (counters, histogram buckets, sums and counts, summaries, gauges such as queue
    depth, pool size, RSS and each router's share of a limit, which add up to the node's); the
    gauges in :data:`NOT_SUMMED` take their max or min, and ``*_created`` (a start time) the
    earliest. ``extra``: families added as they are."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
            table = values.setdefault(family.name, {})
            combine = NOT_SUMMED.get(family.name, _add)
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                how = min if sample.name.endswith("_created") else combine
                table[key] = how(table[key], sample.value) if key in table else sample.value
    for name, family in families.items():
        family.samples = [Sample(s, dict(labels), v) for (s, labels), v in values[name].items()]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([*families.values(), *extra]))
    return generate_latest(registry)


def _add(a: float, b: float) -> float:
    return a + b


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class _Restarts:
    """``raas_router_restarts``: how often the supervisor restarted this router (its index);
    summed by :func:`merge`, the restarts of all."""

    def __init__(self, restarts: int) -> None:
        self.restarts = restarts

    def collect(self) -> list[Metric]:
        text = "Times the supervisor restarted a router process."
        return [GaugeMetricFamily("raas_router_restarts", text, value=self.restarts)]


def install(app: FastAPI, slot: Slot) -> None:
    """Serve ``app`` as router ``slot.index`` of ``slot.count``: call before any other
    middleware is added, so that draining, the memory ceiling and request ids wrap it."""
    app.state.slot = slot
    app.state.metrics.registry.register(_Restarts(slot.restarts))
    app.add_middleware(Siblings, slot=slot)


class Siblings:
    """ASGI middleware: keyed batches to their owner, ``/metrics`` merged, ``Raas-Router``."""

    def __init__(self, app: ASGIApp, slot: Slot) -> None:
        self.app, self.slot = app, slot
        self.stamp = (ROUTER.encode(), str(slot.index).encode())
        self._clients: dict[int, AcyclicAsyncClient] = {}
        self._down: set[int] = set()  # owners found down, logged once until they answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._stamped(send)
        headers = Headers(scope=scope)
        if FORWARDED in headers:
            await self.app(scope, receive, send)
        elif scope["path"] == "/metrics" and scope["method"] == "GET":
            await self._metrics(scope, receive, send, headers)
        elif (target := self._owner(scope, headers)) is not None:
            await self._forward(target, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close the connections to the siblings (they also close with the process)."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def _owner(self, scope: Scope, headers: Headers) -> int | None:
        """The sibling that owns this request, or None: not a keyed batch, or ours."""
        key = headers.get(IDEMPOTENCY)
        if not key or scope["path"] != "/reward" or scope["method"] != "POST":
            return None
        found = owner(presented(Request(scope)), key, self.slot.count)
        return None if found == self.slot.index else found

    def _stamped(self, send: Send) -> Send:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == self.stamp[0] for name, _ in headers):
                    message = {**message, "headers": [*headers, self.stamp]}
            await send(message)

        return stamped

    def _client(self, index: int) -> AcyclicAsyncClient:
        """The pooled connection to sibling ``index``'s socket: acyclic (``reward_service.
        outbound``), so a batch passed on and its answer are freed when dropped, not at the
        next (rare) cyclic collection."""
        if index not in self._clients:
            limits = httpx.Limits(
                max_connections=None, max_keepalive_connections=64, keepalive_expiry=KEEP_S
            )
            transport = httpx.AsyncHTTPTransport(uds=self.slot.socket_path(index), limits=limits)
            self._clients[index] = AcyclicAsyncClient(
                timeout=httpx.Timeout(None), transport=transport
            )
        return self._clients[index]

    async def _forward(self, index: int, scope: Scope, receive: Receive, send: Send) -> None:
        """The owner's answer to this batch; scored here if the owner cannot be reached."""
        started = False

        async def body() -> AsyncIterator[bytes]:
            nonlocal started
            started = True
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ConnectionResetError("the client went away mid-body")
                more = message.get("more_body", False)
                yield message.get("body", b"")

        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _NOT_PASSED]
        length = Headers(scope=scope).get("content-length")
        headers += [(FORWARDED.encode(), str(self.slot.index).encode())]
        headers += [] if length is None else [(b"content-length", length.encode())]
        url = str(httpx.URL("http://router", path=scope["path"], query=scope["query_string"]))
        try:
            answer = await self._client(index).request("POST", url, headers=headers, content=body())
        except httpx.ConnectError:
            if started:
                await retry_later(send, f"router {index} went away")
                return
            if index not in self._down:
                self._down.add(index)
                logger.warning("router %d is down: its keyed batches are scored here", index)
            await self.app(scope, receive, send)
            return
        except (httpx.HTTPError, OSError):
            await retry_later(send, f"router {index} went away")
            return
        self._down.discard(index)
        await _relay(send, answer.status_code, answer.headers.raw, answer.content)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        """Our exposition merged with our siblings'; anything but a 200 of ours is passed on."""
        status, own_headers, own = await _captured(self.app, scope, receive)
        if status != 200:
            await _relay(send, status, own_headers, own)
            return
        passed = {k: v for k, v in headers.items() if k.encode() not in _NOT_PASSED}
        passed[FORWARDED] = str(self.slot.index)
        others = [i for i in range(self.slot.count) if i != self.slot.index]
        scraped = await asyncio.gather(*(self._scrape(i, passed) for i in others))
        texts = [own.decode(), *(text for text in scraped if text is not None)]
        missing = self.slot.count - len(texts)
        if missing:
            logger.warning("/metrics: %d of %d routers did not answer", missing, self.slot.count)
        body = merge(texts, _router_families(self.slot.count, missing))
        kept = [(k, v) for k, v in own_headers if k.lower() == b"content-type"]
        await _relay(send, 200, kept, body)

    async def _scrape(self, index: int, headers: dict[str, str]) -> str | None:
        try:
            answer = await self._client(index).get(
                "http://router/metrics", headers=headers, timeout=SCRAPE_TIMEOUT_S
            )
        except (httpx.HTTPError, OSError):
            return None
        return answer.text if answer.status_code == 200 else None


def _router_families(count: int, missing: int) -> list[Metric]:
    return [
        GaugeMetricFamily("raas_routers", "Router processes behind this port.", value=count),
        GaugeMetricFamily(
            "raas_routers_unscraped",
            "Routers left out of this exposition: they did not answer in time.",
            value=missing,
        ),
    ]


RawHeaders = list[tuple[bytes, bytes]]


async def _captured(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, RawHeaders, bytes]:
    """``app``'s answer to this request: status, headers and body."""
    status, headers, chunks = 500, [], []  # type: tuple[int, RawHeaders, list[bytes]]

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, headers, b"".join(chunks)


async def _relay(
    send: Send, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> None:
    kept = [(k, v) for k, v in headers if k.lower() not in _NOT_PASSED]
    kept.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})
