"""The suite runs on the event loop ``raas serve`` ships with (uvloop), asyncio's on request."""

from __future__ import annotations

import asyncio

import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reward_service.http.server import config as server_config
from reward_service.settings import Settings


async def running_loop() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_asyncio_run_in_this_suite_is_uvloop() -> None:
    assert asyncio.run(running_loop()) is uvloop.Loop


def test_raas_serve_asks_uvicorn_for_uvloop() -> None:
    config = server_config(FastAPI(), Settings())
    assert config.loop == "uvloop"
    assert isinstance(config.http, type)
    assert issubclass(config.http, HttpToolsProtocol)  # with a deadline for headers


def test_the_any_loop_fixture_gives_asyncios_own_loop_too(any_loop: str) -> None:
    expected = uvloop.Loop if any_loop == "uvloop" else asyncio.SelectorEventLoop
    assert issubclass(asyncio.run(running_loop()), expected)
