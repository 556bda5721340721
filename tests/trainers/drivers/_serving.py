"""ASGI apps served on the driver's own event loop (the drivers' stand-ins and servers under
test), for drivers that run in a trainer's environment (they cannot import ``devtools``)."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import time
from pathlib import Path
from types import ModuleType

import uvicorn
from fastapi import FastAPI


def _load_ports() -> ModuleType:
    """``devtools/ports.py`` by its path: this environment has neither raas nor its checkout on
    ``sys.path``, and putting the checkout there would shadow what the trainer installed."""
    path = Path(__file__).resolve().parents[3] / "devtools" / "ports.py"
    spec = importlib.util.spec_from_file_location("raas_test_ports", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_ports = _load_ports()
free_port = _ports.free_port
bound_socket = _ports.bound_socket


async def serve(
    app: FastAPI, sock: socket.socket | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """``app`` on ``sock`` (from ``bound_socket()``; a new one by default), once it accepts
    connections."""
    sock = sock or bound_socket()
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"a server on port {port} did not start: {task}")
        await asyncio.sleep(0.05)
    return server, task, port
