"""raas-client's NeMo Gym resources server (``resources_servers/raas/app.py``, imported from the
installed raas-client) when raas does not answer a verdict at once, in the nemo_gym environment.

Each case serves a ``RaasResourcesServer`` (its FastAPI app, as ``run_webserver`` builds it) and
posts one verify body to it with NeMo Gym's HTTP client:

- ``retried``: raas behind a front that answers the first call 503 with ``Retry-After: 0`` (a
  load balancer without a healthy pod) and passes the next ones to raas;
- ``unreachable``: ``raas_url`` where nothing listens, two tries;
- ``wrong_key``: raas itself, with a key it does not know.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
from _serving import free_port, serve
from fastapi import FastAPI, Request, Response
from nemo_gym.server_utils import (
    BaseServerConfig,
    GlobalAIOHTTPAsyncClientConfig,
    ServerClient,
    request,
    set_global_aiohttp_client,
)
from omegaconf import OmegaConf

from trainer_client.nemo_gym import SERVER_DIR

sys.path.insert(0, str(SERVER_DIR))  # as NeMo Gym's launch command runs it: from its folder
from app import RaasResourcesServer, RaasResourcesServerConfig


def flaky_front(raas_url: str, calls: list[int]) -> FastAPI:
    """503 with Retry-After: 0 for the first call, raas's own answer after."""
    app = FastAPI()

    @app.post("/verify")
    async def verify(incoming: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return Response(status_code=503, headers={"Retry-After": "0"})
        passed = {
            k: v for k, v in incoming.headers.items() if k in ("authorization", "content-type")
        }
        answer = await request(
            "POST", f"{raas_url}/verify", data=await incoming.body(), headers=passed
        )
        return Response(await answer.read(), answer.status, media_type="application/json")

    return app


def proxy(raas_url: str, api_key: str, retry_budget_s: float) -> FastAPI:
    client = ServerClient(
        head_server_config=BaseServerConfig(host="127.0.0.1", port=free_port()),
        global_config_dict=OmegaConf.create({}),
    )
    config = RaasResourcesServerConfig(
        name="raas",
        host="127.0.0.1",
        port=0,
        entrypoint="app.py",
        domain="other",
        raas_url=raas_url,
        raas_api_key=api_key,
        retry_budget_s=retry_budget_s,
    )
    return RaasResourcesServer(config=config, server_client=client).setup_webserver()


async def verify_once(app: FastAPI, body: dict[str, Any]) -> dict[str, Any]:
    server, task, port = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.post(f"http://127.0.0.1:{port}/verify", json=body) as answer:
                content = await answer.text()
                return {
                    "status": answer.status,
                    "body": content,
                    "seconds": time.monotonic() - started,
                }
    finally:
        server.should_exit = True
        await task


async def main(job: dict[str, Any]) -> dict[str, Any]:
    set_global_aiohttp_client(GlobalAIOHTTPAsyncClientConfig())
    calls: list[int] = []
    front, front_task, front_port = await serve(flaky_front(job["url"], calls))
    front_url = f"http://127.0.0.1:{front_port}"
    retried = await verify_once(proxy(front_url, job["key"], 30), job["body"])
    front.should_exit = True
    await front_task
    dead = f"http://127.0.0.1:{free_port()}"
    report = {
        "retried": retried | {"front_calls": len(calls)},
        "unreachable": await verify_once(proxy(dead, job["key"], 1), job["body"]) | {"url": dead},
        "wrong_key": await verify_once(proxy(job["url"], "not-a-raas-key", 30), job["body"]),
    }
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)  # noqa: T201
