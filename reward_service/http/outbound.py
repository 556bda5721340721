"""HTTP calls raas makes (router → workers, a model → its vLLM server), with no reference cycle.

httpx's ``Client.send`` wraps every response's stream in a ``Bound(Async)Stream`` that points
back at the response (to set ``elapsed`` on close): response → stream → response, a cycle. The
response holds its request, so each call's body (a piece of a batch, megabytes of chains of
thought) and its answer live until the cyclic garbage collector runs — and raas's GC policy
(``reward_service.gc_policy``) makes that rare: a router with two rule workers held 622
responses and 342 MB of bodies after 150 batches, all freed by one ``gc.collect()``. Here a call
goes to the transport itself (httpx's public transport API), so nothing points back: a response
is freed by reference count when its caller drops it, and the body with it.

What ``send`` adds on top of the transport and raas does not need: redirects (our peers send
none), cookies, auth flows, ``elapsed`` and an INFO log line per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

Timeout = float | httpx.Timeout


class AcyclicAsyncClient:
    """``post`` and ``get``: a response read to the end and closed, that nothing refers back to."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (httpx's seam for tests); by default a pooled
        ``AsyncHTTPTransport`` with ``limits``."""
        self._transport = transport or httpx.AsyncHTTPTransport(limits=limits or httpx.Limits())
        # builds requests only (URL, headers, the timeout extension); never sends them
        self._builder = httpx.AsyncClient(timeout=timeout, transport=self._transport)

    async def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.request("POST", url, content=content, headers=headers)

    async def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, timeout: Timeout | None = None
    ) -> httpx.Response:
        """``timeout`` None: the client's."""
        return await self.request("GET", url, headers=headers, timeout=timeout)

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """The answer, read to the end; its connection goes back to the pool even when reading
        fails. ``options``: ``content``, ``json``, ``headers``, ``timeout`` (None: the client's)."""
        request = _build(self._builder, method, url, options)
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._builder.aclose()  # closes the transport too


class AcyclicClient:
    """The blocking twin of :class:`AcyclicAsyncClient` (for code on a worker thread)."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._transport = transport or httpx.HTTPTransport(limits=limits or httpx.Limits())
        self._builder = httpx.Client(timeout=timeout, transport=self._transport)

    def post(
        self,
        url: str,
        *,
        content: bytes | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.request("POST", url, content=content, json=json, headers=headers)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        request = _build(self._builder, method, url, options)
        response = self._transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return response

    def close(self) -> None:
        self._builder.close()


def _build(
    builder: httpx.Client | httpx.AsyncClient, method: str, url: str, options: dict[str, Any]
) -> httpx.Request:
    timeout = options.pop("timeout", None)
    return builder.build_request(
        method, url, **options, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
    )
