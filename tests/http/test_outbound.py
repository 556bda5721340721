"""The HTTP clients raas calls its peers with: answers as httpx gives them, nothing left in a
reference cycle (a body in a cycle lives until a collection, which raas's GC policy makes rare)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from devtools.live import InThreadServer
from devtools.ports import free_port
from reward_service.http.outbound import AcyclicAsyncClient, AcyclicClient

BODY = b"x" * 1_000_000
TIMEOUT = httpx.Timeout(10.0)


class Echo(InThreadServer):
    """Answers a POST with the size of its body; ``/slow`` answers after 2 s; ``/status/N`` N."""

    def __init__(self) -> None:
        self.app = FastAPI()

        @self.app.post("/echo")
        async def echo(request: Request) -> dict[str, Any]:
            body = await request.body()
            return {"bytes": len(body), "type": request.headers.get("content-type")}

        @self.app.get("/slow")
        async def slow() -> dict[str, str]:
            await asyncio.sleep(2)
            return {"status": "late"}

        @self.app.get("/status/{code}")
        async def status(code: int) -> Response:
            return Response(b"why", status_code=code, headers={"Retry-After": "3"})

        super().__init__()


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    with Echo() as server:
        yield server


def unreachable_after(call: Any) -> list[Any]:
    """What only a collection frees of what ``call()`` left behind (collector off meanwhile)."""
    gc.collect()
    gc.disable()
    try:
        call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def bodies_in(garbage: list[Any]) -> list[int]:
    return [
        len(ref)
        for obj in garbage
        for ref in gc.get_referents(obj)
        if isinstance(ref, bytes | bytearray) and len(ref) >= len(BODY)
    ]


def test_the_async_client_answers_like_httpx_and_leaves_no_cycle(echo: Echo) -> None:
    answers: list[tuple[int, Any, str]] = []

    async def calls() -> None:
        client = AcyclicAsyncClient(timeout=TIMEOUT)
        try:
            for _ in range(5):
                posted = await client.post(
                    f"{echo.url}/echo", content=BODY, headers={"content-type": "application/x"}
                )
                refused = await client.get(f"{echo.url}/status/503")
                answers.append((posted.status_code, posted.json(), refused.headers["retry-after"]))
        finally:
            await client.aclose()

    garbage = unreachable_after(lambda: asyncio.run(calls()))
    assert answers == [(200, {"bytes": len(BODY), "type": "application/x"}, "3")] * 5
    assert bodies_in(garbage) == []
    assert not [o for o in garbage if type(o).__module__.startswith("httpx")]


def test_the_blocking_client_answers_like_httpx_and_leaves_no_cycle(echo: Echo) -> None:
    answers: list[tuple[int, Any]] = []

    def calls() -> None:
        client = AcyclicClient(timeout=TIMEOUT)
        try:
            for _ in range(5):
                posted = client.post(f"{echo.url}/echo", json={"x": BODY.decode()})
                answers.append((posted.status_code, posted.json()["type"]))
        finally:
            client.close()

    garbage = unreachable_after(calls)
    assert answers == [(200, "application/json")] * 5
    assert bodies_in(garbage) == []
    assert not [o for o in garbage if type(o).__module__.startswith("httpx")]


def test_timeouts_are_the_clients_unless_a_call_names_its_own(echo: Echo) -> None:
    async def calls() -> tuple[int, type[Exception] | None]:
        client = AcyclicAsyncClient(timeout=httpx.Timeout(5.0))
        try:
            waited = await client.get(f"{echo.url}/slow")
            try:
                await client.get(f"{echo.url}/slow", timeout=0.2)
            except httpx.ReadTimeout as exc:
                return waited.status_code, type(exc)
            return waited.status_code, None
        finally:
            await client.aclose()

    assert asyncio.run(calls()) == (200, httpx.ReadTimeout)


def test_transport_errors_are_httpx_errors() -> None:
    async def call() -> None:
        client = AcyclicAsyncClient(timeout=TIMEOUT)
        try:
            await client.get(f"http://127.0.0.1:{free_port()}/readyz")
        finally:
            await client.aclose()

    with pytest.raises(httpx.ConnectError):
        asyncio.run(call())
