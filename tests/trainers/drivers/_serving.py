"""ASGI apps served on the driver's own event loop (the drivers' stand-ins and servers under
test), for drivers that run in a trainer's environment (they cannot import ``devtools``)."""

from __future__ import annotations

import asyncio
import socket
import time

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve(
    app: FastAPI, port: int | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """``app`` on ``port`` (a free one by default), once it accepts connections."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"a server on port {port} did not start: {task}")
        await asyncio.sleep(0.05)
    return server, task, port
