"""RemoteBackend against real ``raas worker rules`` processes (and one stand-in that fails)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from devtools.live import InThreadServer, LiveServer
from devtools.ports import free_port
from reward_service.contract.registry import VERIFIERS, Context, NoParams
from reward_service.contract.task import Outcome, Task
from reward_service.remote.backend import RemoteBackend, _split


def math_task(i: int) -> Task:
    params = VERIFIERS.get("math").params()
    return Task("math", params, f"\\boxed{{{i}}}", f'"{i % 3}"', None, Context())


def expected(i: int) -> float:
    return 1.0 if i == i % 3 else 0.0


@pytest.fixture(scope="module")
def worker() -> Iterator[LiveServer]:
    live = LiveServer.start("worker", "rules")
    yield live
    live.stop()


class Always503(InThreadServer):
    """A stand-in worker that is up but always answers 503 (an overloaded pod)."""

    def __init__(self) -> None:
        self.app = FastAPI()
        self.hits = 0

        @self.app.post("/v1/tasks")
        async def tasks() -> Response:
            self.hits += 1
            return Response(status_code=503)

        @self.app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ready"}

        super().__init__()


async def run_remote(
    urls: list[str], tasks: list[Task], **options: Any
) -> tuple[list[Outcome], RemoteBackend]:
    backend = RemoteBackend(urls, backoff_s=0.01, **options)
    await backend.start()
    try:
        return await backend.run(tasks), backend
    finally:
        await backend.close()


def test_remote_worker_scores_like_the_local_pool(worker: LiveServer) -> None:
    tasks = [math_task(i) for i in range(50)]
    outcomes, backend = asyncio.run(run_remote([worker.url], tasks))
    assert [o.accuracy for o in outcomes] == [expected(i) for i in range(50)]
    assert backend.retries == 0


def test_503_is_retried_on_another_worker(worker: LiveServer) -> None:
    with Always503() as bad:
        tasks = [math_task(i) for i in range(40)]
        outcomes, backend = asyncio.run(run_remote([bad.url, worker.url], tasks))
    assert [o.accuracy for o in outcomes] == [expected(i) for i in range(40)]
    assert bad.hits >= 1
    assert backend.retries >= 1
    assert not backend.endpoints[0].healthy or backend.endpoints[0].failures >= 1


def test_4xx_is_not_retried(worker: LiveServer) -> None:
    bogus = Task("no_such_verifier", NoParams(), "x")
    outcomes, backend = asyncio.run(run_remote([worker.url], [bogus]))
    assert outcomes[0].status == "error"
    assert "HTTP 422" in (outcomes[0].error or "")
    assert backend.retries == 0


def test_unreachable_workers_make_the_piece_unavailable() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    outcomes, backend = asyncio.run(
        run_remote([dead], [math_task(1), math_task(2)], attempts=3, retry_budget_s=0)
    )
    assert [o.status for o in outcomes] == ["unavailable", "unavailable"]
    assert "ConnectError" in (outcomes[0].error or "")
    assert outcomes[0].details == {"retryable": True}  # a trainer may send it again
    assert backend.retries == 4  # two pieces (2 per worker), each tried 3 times


def test_an_ejected_worker_comes_back_when_healthy() -> None:
    port = free_port()

    async def main() -> tuple[bool, bool, float | None]:
        backend = RemoteBackend(
            [f"http://127.0.0.1:{port}"], backoff_s=0.01, health_interval_s=0.2, retry_budget_s=0
        )
        await backend.start()
        try:
            await backend.run([math_task(1)])  # nobody listens yet: failures eject it
            ejected = not backend.endpoints[0].healthy
            live = await asyncio.to_thread(LiveServer.start, "worker", "rules", port=port)
            try:
                for _ in range(100):
                    if backend.endpoints[0].healthy:
                        break
                    await asyncio.sleep(0.1)
                back = backend.endpoints[0].healthy
                (outcome,) = await backend.run([math_task(1)])
            finally:
                live.stop()
            return ejected, back, outcome.accuracy
        finally:
            await backend.close()

    ejected, back, accuracy = asyncio.run(main())
    assert ejected
    assert back
    assert accuracy == 1.0


def test_worker_rejects_malformed_tasks_with_422(worker: LiveServer) -> None:
    response = httpx.post(f"{worker.url}/v1/tasks", json={"tasks": [{"verifier": "math"}]})
    assert response.status_code == 422
    assert ["tasks", 0, "response"] in [e["loc"] for e in response.json()["detail"]]
    bad_params = {"verifier": "chart", "response": "1", "params": {"tolerance": -1}}
    response = httpx.post(f"{worker.url}/v1/tasks", json={"tasks": [bad_params]})
    assert response.json()["detail"][0]["loc"] == ["tasks", 0, "params", "tolerance"]


class Garbled(InThreadServer):
    """A stand-in worker answering 200 with what is not an outcome list."""

    def __init__(self, body: bytes) -> None:
        self.app = FastAPI()

        @self.app.post("/v1/tasks")
        async def tasks() -> Response:
            return Response(body, media_type="application/json")

        @self.app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ready"}

        super().__init__()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>proxy error</html>", "malformed body"),  # not JSON at all
        (b'{"outcomes": [{"status": "ok"}, {"status": "ok"}]}', "malformed body"),  # 2 for 1
        (b'{"outcomes": [{"status": "fine"}]}', "bad outcome"),
        (b'{"outcomes": [{"status": "ok", "accuracy": "high"}]}', "bad outcome"),
        (b"[]", "malformed body"),
    ],
)
def test_a_malformed_answer_becomes_per_sample_errors(body: bytes, match: str) -> None:
    with Garbled(body) as bad:
        # two tasks go as two pieces (a worker gets at least two): each piece fails alone
        outcomes, backend = asyncio.run(run_remote([bad.url], [math_task(1), math_task(2)]))
    assert [o.status for o in outcomes] == ["error", "error"]
    assert all(match in (o.error or "") for o in outcomes)
    assert backend.retries == 0


def test_pieces_are_bounded_in_tasks_and_bytes() -> None:
    tasks = [math_task(i) for i in range(10)]
    assert [len(p) for p in _split(tasks, 2, 10**9)] == [5, 5]
    big = [Task("math", NoParams(), "x" * 400) for _ in range(5)]
    assert [len(p) for p in _split(big, 1, 1000)] == [2, 2, 1]
    assert [len(p) for p in _split(big, 1, 10)] == [1, 1, 1, 1, 1]  # one over the bound: alone


def test_an_unexpected_failure_before_any_answer_is_retried_not_fatal() -> None:
    """Seen on uvloop: a connection to a worker dying as it is opened raises an AttributeError
    from deep in anyio, not an httpx error. No answer came, so the piece is sent again."""
    calls: list[str] = []

    def worker(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(200)
        calls.append(request.url.host)
        if len(calls) == 1:
            raise AttributeError("'NoneType' object has no attribute 'getpeername'")
        tasks = orjson.loads(request.content)["tasks"]
        return httpx.Response(
            200, json={"outcomes": [{"status": "ok", "accuracy": 1.0}] * len(tasks)}
        )

    async def main() -> tuple[list[Outcome], int]:
        backend = RemoteBackend(
            ["http://a", "http://b"], backoff_s=0.0, transport=httpx.MockTransport(worker)
        )
        await backend.start()
        try:
            return await backend.run([math_task(1)]), backend.retries
        finally:
            await backend.close()

    outcomes, retries = asyncio.run(main())
    assert [(o.status, o.accuracy) for o in outcomes] == [("ok", 1.0)]
    assert retries == 1


def test_a_failed_piece_has_its_worker_probed_at_once(worker: LiveServer) -> None:
    """A worker killed under load is out after its first failure: its ``/readyz`` is asked at
    once, not on the health timer (an hour here) nor after ``eject_after`` failures (100)."""
    victim = LiveServer.start("worker", "rules")

    async def main() -> tuple[list[Outcome], bool, bool, int]:
        backend = RemoteBackend(
            [victim.url, worker.url], backoff_s=0.01, eject_after=100, health_interval_s=3600
        )
        await backend.start()
        try:
            await backend.run([math_task(i) for i in range(8)])  # both serve
            served = backend.endpoints[0].healthy
            victim.stop(signal.SIGKILL)
            outcomes = await backend.run([math_task(i) for i in range(40)])
            return outcomes, served, backend.endpoints[0].healthy, backend.endpoints[0].failures
        finally:
            await backend.close()

    try:
        outcomes, served, healthy, failures = asyncio.run(main())
    finally:
        victim.stop()
    assert [o.accuracy for o in outcomes] == [expected(i) for i in range(40)]
    assert served
    assert not healthy
    assert 1 <= failures < 100


def test_pieces_wait_for_a_worker_and_go_as_soon_as_it_is_back() -> None:
    """No worker up: the pieces neither fail nor wait for the health timer (an hour here); they
    wait within the retry budget, probing, and are sent the moment the worker is ready."""
    port = free_port()

    async def main() -> tuple[bool, list[Outcome], float]:
        backend = RemoteBackend(
            [f"http://127.0.0.1:{port}"],
            backoff_s=0.01,
            health_interval_s=3600,
            retry_budget_s=120,
        )
        await backend.start()
        live: LiveServer | None = None
        try:
            batch = asyncio.ensure_future(backend.run([math_task(i) for i in range(10)]))
            await asyncio.sleep(1.0)
            waiting = not batch.done()
            live = await asyncio.to_thread(LiveServer.start, "worker", "rules", port=port)
            ready = time.monotonic()
            outcomes = await asyncio.wait_for(batch, 60)
            return waiting, outcomes, time.monotonic() - ready
        finally:
            if live is not None:
                live.stop()
            await backend.close()

    waiting, outcomes, after_ready_s = asyncio.run(main())
    assert waiting
    assert [o.accuracy for o in outcomes] == [expected(i) for i in range(10)]
    assert after_ready_s < 30  # a probe found it (every 0.2 s), not the hourly timer


def test_a_spent_budget_leaves_the_piece_unavailable_marked_retryable() -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    async def main() -> tuple[list[Outcome], float]:
        backend = RemoteBackend([dead], backoff_s=0.01, retry_budget_s=1.5)
        await backend.start()
        start = time.monotonic()
        try:
            return await backend.run([math_task(1)]), time.monotonic() - start
        finally:
            await backend.close()

    (outcome,), seconds = asyncio.run(main())
    assert outcome.status == "unavailable"
    assert outcome.details == {"retryable": True}
    assert "ConnectError" in (outcome.error or "")
    assert 1.5 <= seconds < 30  # retried for the whole budget, and no longer than it


def test_a_batch_s_pieces_are_spread_over_the_workers() -> None:
    """Least in flight: the pieces of one batch are counted as they are handed out, so four
    pieces over two workers go two and two (not wherever a random pick sends them)."""
    hosts: list[str] = []

    def worker(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(200)
        hosts.append(request.url.host)
        tasks = orjson.loads(request.content)["tasks"]
        return httpx.Response(200, json={"outcomes": [{"status": "ok"}] * len(tasks)})

    async def main() -> None:
        backend = RemoteBackend(["http://a", "http://b"], transport=httpx.MockTransport(worker))
        await backend.start()
        try:
            for _ in range(5):
                await backend.run([math_task(i) for i in range(40)])
        finally:
            await backend.close()

    asyncio.run(main())
    assert sorted(hosts) == ["a"] * 10 + ["b"] * 10
