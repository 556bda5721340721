"""A batch passed on to its owner router is freed by reference count, its body with it.

The router's GC policy collects cycles rarely (``reward_service.gc_policy``): a forwarded batch
left in a reference cycle (httpx's ``Client.send`` makes one per response) would keep its body
and its answer — megabytes of chains of thought — until a collection. As
``tests/remote/test_no_cycles.py`` does for the remote workers, the middleware is run with the
collector off and then asked what only a collection would free.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Message

from reward_service.http.siblings import Siblings, owner
from reward_service.http.supervisor import Slot
from tests.remote.test_no_cycles import found_by_collection, held_bytes, httpx_objects

BODY = b'{"samples": [' + b'{"response": "' + b"let me re-check. " * 20_000 + b'"}]}'


def owner_app() -> FastAPI:
    app = FastAPI()

    @app.post("/reward")
    async def reward(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    return app


async def never_scored_here(*_: Any) -> None:
    raise AssertionError("a batch owned by the other router was scored here")


async def forward_once(middleware: Siblings, key: str) -> int:
    sent: list[bytes] = []
    received = False
    status = 0

    async def receive() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            sent.append(message.get("body", b""))

    headers = [(b"idempotency-key", key.encode()), (b"content-length", str(len(BODY)).encode())]
    scope = {"type": "http", "method": "POST", "path": "/reward", "query_string": b""}
    scope["headers"] = headers
    await middleware(scope, receive, send)
    assert b"".join(sent) == BODY
    return status


def test_a_batch_passed_to_its_owner_leaves_no_cycle_holding_its_body(tmp_path: Path) -> None:
    slot = Slot(index=0, count=2, directory=str(tmp_path), supervisor=os.getpid())
    key = next(k for k in (f"k{i}" for i in range(100)) if owner(None, k, 2) == 1)
    config = uvicorn.Config(owner_app(), uds=slot.socket_path(1), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    middleware = Siblings(never_scored_here, slot)

    async def main() -> list[Any]:
        assert await forward_once(middleware, key) == 200
        gc.collect()
        gc.disable()
        try:
            for _ in range(4):
                assert await forward_once(middleware, key) == 200
            return found_by_collection()
        finally:
            gc.enable()
            await middleware.aclose()

    try:
        garbage = asyncio.run(main())
    finally:
        server.should_exit = True
        thread.join(5)
    assert (httpx_objects(garbage), held_bytes(garbage)) == ([], 0)
