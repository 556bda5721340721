"""A worker trusts no caller: real ``raas serve`` → ``raas worker rules`` with the internal token.

The attack measured before workers derived their own cache keys: flush a rule worker's
ground-truth cache with thousands of throw-away tasks sent to ``POST /v1/tasks`` directly, then
send tasks that name the router's ground truths with other answers, so that the router's later
verdicts for those ground truths flip. Without the token the worker refuses the call; with it
(an insider) the call scores only its own tasks, and the router's verdicts do not move.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.contract.task import Task
from reward_service.remote.backend import RemoteBackend

KEY, TOKEN = "trainer-key-0123456789", "internal-token-0123456789"
MARKER = "ROLLOUT-TEXT-THAT-MUST-NOT-BE-LOGGED"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def cluster(logs: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    common = {"RAAS_INTERNAL_TOKEN": TOKEN, "RAAS_LOG_LEVEL": "info", "RAAS_LOG_FORMAT": "json"}
    with (logs / "worker.log").open("wb") as worker_log, (logs / "router.log").open("wb") as log:
        worker = LiveServer.start("worker", "rules", log=worker_log, **common)
        router = LiveServer.start(
            "serve", log=log, RAAS_RULE_WORKERS=worker.url, RAAS_API_KEYS=KEY, **common
        )
        yield router, worker
        router.stop()
        worker.stop()


def honest_batch() -> list[dict[str, Any]]:
    """16 ground truths, each with a right and a wrong answer."""
    samples = []
    for i in range(16):
        truth = f"{i}/7"
        samples.append(
            {
                "response": f"so \\boxed{{\\frac{{{i}}}{{7}}}}",
                "ground_truth": truth,
                "verifier": "math",
                "id": f"right-{i}",
            }
        )
        samples.append(
            {
                "response": f"so \\boxed{{{i + 1}}}",
                "ground_truth": truth,
                "verifier": "math",
                "id": f"wrong-{i}",
            }
        )
    return samples


def verdicts(router: LiveServer) -> list[float | None]:
    response = httpx.post(
        f"{router.url}/reward",
        json={"samples": honest_batch()},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return [r["reward"] for r in response.json()["results"]]


def direct(worker: LiveServer, tasks: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return httpx.post(f"{worker.url}/v1/tasks", json={"tasks": tasks}, headers=headers, timeout=300)


def test_a_direct_worker_call_cannot_change_the_routers_verdicts(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    router, worker = cluster
    before = verdicts(router)
    assert before == [1.0, 0.0] * 16

    flipped = [
        {"verifier": "math", "ground_truth": f"{i}/7", "response": f"\\boxed{{{i + 1}}}"}
        for i in range(16)
    ]
    # without the token, or with a trainer's key, the worker refuses
    assert direct(worker, flipped).status_code == 401
    assert direct(worker, flipped, Authorization=f"Bearer {KEY}").status_code == 401
    # with it: a caller's own cache key is not accepted ...
    token = {"Authorization": f"Bearer {TOKEN}"}
    keyed = [{**task, "group_key": f"math|{i}/7"} for i, task in enumerate(flipped)]
    assert direct(worker, keyed, **token).status_code == 422
    # ... and flushing the cache, then scoring other answers under the same ground truths,
    # answers those tasks only (each of the 2 children keeps 4,096 parses: 9,000 flush both)
    junk = [{"verifier": "math", "ground_truth": f"{j}", "response": "1"} for j in range(9000)]
    for start in range(0, len(junk), 1500):
        assert direct(worker, junk[start : start + 1500], **token).status_code == 200
    answered = direct(worker, flipped, **token)
    assert answered.status_code == 200
    assert [o["accuracy"] for o in answered.json()["outcomes"]] == [0.0] * 16

    assert verdicts(router) == before


def test_the_router_needs_the_token_to_use_the_worker(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    _, worker = cluster
    task = Task("math", VERIFIERS.get("math").params(), "\\boxed{1}", '"1"', None, Context())

    async def score(headers: dict[str, str]) -> list[Any]:
        backend = RemoteBackend([worker.url], headers=headers, backoff_s=0.01)
        await backend.start()
        try:
            return [(o.status, o.accuracy, o.error) for o in await backend.run([task])]
        finally:
            await backend.close()

    assert asyncio.run(score({"authorization": f"Bearer {TOKEN}"})) == [("ok", 1.0, None)]
    ((status, _, error),) = asyncio.run(score({}))
    assert status == "error"
    assert "HTTP 401" in (error or "")


def log_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_logs_are_json_carry_the_request_id_to_the_worker_and_no_rollout_text(
    cluster: tuple[LiveServer, LiveServer], logs: Path
) -> None:
    router, _ = cluster
    sample = {"response": f"{MARKER} \\boxed{{3}}", "ground_truth": "3", "verifier": "math"}
    response = httpx.post(
        f"{router.url}/reward",
        json={"samples": [sample]},
        timeout=60,
        headers={"Authorization": f"Bearer {KEY}", "X-Request-ID": "trace-abc-123"},
    )
    assert response.headers["x-request-id"] == "trace-abc-123"
    fresh = httpx.post(
        f"{router.url}/reward",
        json={"samples": [sample]},
        timeout=60,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert len(fresh.headers["x-request-id"]) == 32  # none given: one is made

    def access(name: str, path: str) -> list[dict[str, Any]]:
        return [
            line
            for line in log_lines(logs / name)
            if line["logger"] == "raas.access" and line.get("path") == path
        ]

    def joined() -> bool:
        return any(
            x.get("request_id") == "trace-abc-123" for x in access("worker.log", "/v1/tasks")
        )

    deadline = time.monotonic() + 30  # the worker writes its access line as its answer leaves
    while not joined() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert joined()
    (line,) = [x for x in access("router.log", "/reward") if x["request_id"] == "trace-abc-123"]
    assert line["status"] == 200
    assert line["level"] == "info"
    for name in ("router.log", "worker.log"):
        assert MARKER not in (logs / name).read_text()
