"""The router's HTTP client for its workers: httpx's, minus the reference cycle it makes per call.

``httpx.AsyncClient.send`` wraps every response's stream in a ``BoundAsyncStream`` that points
back at the response (to set ``elapsed`` on close): response → stream → response, a cycle. The
response holds its request, so each call's request body (a piece of a batch, megabytes of
chains of thought) and the answer live until the cyclic garbage collector runs, and raas's GC
policy (``reward_service.gc_policy``) makes that rare: 622 responses holding 342 MB of bodies
after 150 batches, freed by one ``gc.collect()`` (see ``bench/bench_memory.py``). Here a call
goes to the transport itself (httpx's public transport API), so nothing points back: the
response is freed by reference count when the caller drops it, and the body with it.

What ``send`` adds on top of the transport and we do not need: redirects (workers send none),
cookies, auth flows, ``elapsed``, an INFO log line per call.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

Timeout = float | httpx.Timeout


class WorkerClient:
    """``post`` and ``get``: a response read to the end and closed, that nothing refers back to."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (httpx's seam for tests); by default a pooled
        ``AsyncHTTPTransport`` with ``limits``."""
        self._transport = transport or httpx.AsyncHTTPTransport(limits=limits)
        # builds requests only (URL, headers, the timeout extension); never sends them
        self._builder = httpx.AsyncClient(timeout=timeout, transport=self._transport)

    async def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.request("POST", url, content=content, headers=headers)

    async def get(self, url: str, *, timeout: Timeout | None = None) -> httpx.Response:
        return await self.request("GET", url, timeout=timeout)

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
    ) -> httpx.Response:
        """The answer, read to the end; the connection goes back to the pool even when reading
        fails. ``timeout`` None: the client's."""
        request = self._builder.build_request(
            method, url, content=content, headers=headers,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )  # fmt: skip
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._builder.aclose()  # closes the transport too
