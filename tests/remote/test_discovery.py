"""Worker discovery (``RAAS_REMOTE_DISCOVERY=dns``): one endpoint per address behind a worker
URL's name, refreshed while trainers send. The workers are real ``raas worker rules`` processes
on one port of three loopback addresses (pods behind a headless Service); the router is
``create_app`` served by uvicorn on 127.0.0.1; only the name's answer is scripted (this machine
has no DNS server to change), through the ``resolve`` seam the router calls where it would ask
the system resolver."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from devtools.live import InThreadServer, LiveServer
from devtools.ports import free_port
from reward_service.http.app import create_app
from reward_service.metrics import Metrics
from reward_service.remote.discovery import Discovery, expand, resolve_dns
from reward_service.remote.health import Endpoints
from reward_service.settings import Settings
from trainer_client import RewardClient

pytestmark = pytest.mark.slow
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


@pytest.mark.parametrize(
    ("url", "addresses", "expected"),
    [
        (
            "http://rules:8000",
            ["10.0.0.5", "10.0.0.6"],
            ["http://10.0.0.5:8000", "http://10.0.0.6:8000"],
        ),
        ("http://rules.raas.svc/", ["10.0.0.5"], ["http://10.0.0.5"]),
        ("https://rules:8443/base", ["fd00::7"], ["https://[fd00::7]:8443/base"]),
        ("http://rules:8000", [], []),
    ],
)
def test_a_url_becomes_one_per_address(url: str, addresses: list[str], expected: list[str]) -> None:
    assert expand(url, addresses) == expected


def test_names_are_resolved_by_the_system_resolver() -> None:
    assert "127.0.0.1" in asyncio.run(resolve_dns("localhost", 80))


class Scripted:
    """A name's answer, changed by the test; an exception stands for a failed lookup."""

    def __init__(self, *addresses: str) -> None:
        self.answer: list[str] | Exception = list(addresses)

    async def __call__(self, host: str, port: int) -> list[str]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return list(self.answer)


def test_a_failed_or_empty_lookup_keeps_the_workers() -> None:
    async def run() -> list[list[str]]:
        endpoints, scripted = Endpoints([]), Scripted("10.0.0.5")
        discovery = Discovery(["http://rules:8000"], endpoints, resolve=scripted)
        seen = []
        for answer in (["10.0.0.5"], OSError("SERVFAIL"), [], ["10.0.0.6"]):
            scripted.answer = answer
            await discovery.refresh()
            seen.append([e.url for e in endpoints.all if not e.retired])
        return seen

    assert asyncio.run(run()) == [["http://10.0.0.5:8000"]] * 3 + [["http://10.0.0.6:8000"]]


class Router(InThreadServer):
    def __init__(self, port: int, resolve: Scripted) -> None:
        settings = Settings(
            rule_workers=[f"http://rules.test:{port}"],
            remote_discovery="dns",
            remote_discovery_interval_s=0.5,
        )
        self.app = create_app(settings, Metrics(CollectorRegistry()))
        self.app.state.rules.discovery.resolve = resolve  # where the system resolver was
        super().__init__()


def pieces_served(worker: LiveServer) -> int:
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    found = re.search(r'^raas_request_seconds_count\{endpoint="/v1/tasks"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def batch(index: int) -> list[dict[str, Any]]:
    reasoning = "Let me add these step by step. " * 40  # a few kB, as real rollouts are
    return [
        {
            "verifier": "math",
            "ground_truth": str(index + i),
            "response": f"{reasoning}\\boxed{{{index + i if i % 3 else index + i + 1}}}",
        }
        for i in range(64)
    ]


def keep_sending(url: str, stop: threading.Event) -> list[tuple[int, list[Any]]]:
    sent = []
    with RewardClient(url, timeout_s=120) as client:
        index = 0
        while not stop.is_set():
            sent.append((index, client.score_sync(batch(index)).results))
            index += 1
    return sent


def wait_until(condition: Any, give_up_s: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < give_up_s, "not within the time given"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture
def workers() -> Iterator[dict[str, LiveServer]]:
    port, started = free_port(), {}
    try:
        for host in HOSTS:
            started[host] = LiveServer.start(
                "worker", "rules", host=host, port=port, RAAS_POOL_WORKERS="1"
            )
        yield started
    finally:
        for worker in started.values():
            worker.stop()


def test_pods_that_come_get_load_and_pods_that_go_lose_nothing(
    workers: dict[str, LiveServer],
) -> None:
    first, second, third = (workers[host] for host in HOSTS)
    scripted = Scripted(HOSTS[0], HOSTS[1])
    stop = threading.Event()
    with Router(first.port, scripted) as router, ThreadPoolExecutor(2) as trainers:
        sending: list[Future[list[tuple[int, list[Any]]]]] = [
            trainers.submit(keep_sending, router.url, stop) for _ in range(2)
        ]
        try:
            wait_until(lambda: pieces_served(first) > 5 and pieces_served(second) > 5, 60)
            assert pieces_served(third) == 0  # not behind the name yet
            scripted.answer = list(HOSTS)  # the autoscaler adds a pod
            took = wait_until(lambda: pieces_served(third) > 3, 10)
            scripted.answer = [HOSTS[1], HOSTS[2]]  # and removes the first, trainers sending
            time.sleep(2.0)  # the next refresh (0.5 s), then its pieces in flight answered
            drained = pieces_served(first)
            time.sleep(2.0)
            assert pieces_served(first) == drained  # no new piece after it left
            assert pieces_served(third) > 10
        finally:
            stop.set()
            sent = [entry for future in sending for entry in future.result()]
        ready = httpx.get(f"{router.url}/readyz", timeout=10).json()
    assert len(ready["workers"]) == 2  # the gone pod dropped once it had nothing in flight
    assert took < 5
    for index, results in sent:  # every sample of every batch scored once, correctly
        expected = [0.0 if i % 3 == 0 else 1.0 for i in range(64)]
        assert [r.status for r in results] == ["ok"] * 64
        assert [r.reward for r in results] == expected, index
