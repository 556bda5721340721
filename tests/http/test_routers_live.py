"""``raas serve --routers N`` as real processes on 127.0.0.1: one port, the pool split, keyed
batches scored once whichever router they reach, one merged ``/metrics``, a killed router
restarted without a lost sample, and nothing left behind when the supervisor goes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.live import LiveServer, children_of, wait_exited
from reward_service.http.siblings import owner
from trainer_client.client import RewardClient


def samples(count: int, tag: str) -> list[dict[str, Any]]:
    """``choice`` samples, every one distinct; one in four is right."""
    letters = ["ABCD"[(i + (i % 4 != 0)) % 4] for i in range(count)]
    return [
        {
            "verifier": "choice",
            "ground_truth": "ABCD"[i % 4],
            "response": f"Sample {tag} #{i}, so \\boxed{{{letter}}}",
        }
        for i, letter in enumerate(letters)
    ]


def expected(batch: list[dict[str, Any]]) -> list[float]:
    return [1.0 if s["response"][-2] == s["ground_truth"] else 0.0 for s in batch]


def routers(server: LiveServer) -> dict[int, int]:
    """Router index → pid, read from each router's environment."""
    return {slot_of(pid)["index"]: pid for pid in children_of(server.process.pid)}


def slot_of(pid: int) -> dict[str, Any]:
    """What the supervisor told router ``pid`` (``reward_service.http.supervisor.Slot``)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next(v for v in environ if v.startswith(b"_RAAS_ROUTER="))
    slot: dict[str, Any] = json.loads(value.split(b"=", 1)[1])
    return slot


def private(slot: dict[str, Any], index: int) -> httpx.Client:
    """A client of router ``index``'s own Unix socket (what its siblings use)."""
    path = os.path.join(slot["directory"], f"router-{index}.sock")
    return httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://r", timeout=60)


def pool_children(pid: int) -> list[int]:
    return [c for c in children_of(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def descendants(pid: int) -> list[int]:
    out = []
    for child in children_of(pid):
        out += [child, *descendants(child)]
    return out


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples (with these labels) in the merged ``/metrics``."""
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def fresh(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on a connection of its own (the kernel picks a router per connection)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.request(method, path, **kwargs)


def wait_for_all(server: LiveServer, pool: int, count: int, timeout_s: float = 90.0) -> None:
    """Until every router answers in the merged ``/metrics`` with its pool up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = httpx.get(server.url + "/metrics", timeout=10).text
        values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        up = values.get("raas_routers_unscraped") == 0 and values.get("raas_pool_ready") == pool
        if up and len(routers(server)) == count:
            return
        time.sleep(0.2)
    raise TimeoutError("the routers did not all come up")


def start(count: int, pool: int, **env: str) -> LiveServer:
    server = LiveServer.start(
        RAAS_ROUTERS=str(count), RAAS_POOL_WORKERS=str(pool), RAAS_LOG_FORMAT="text", **env
    )
    try:
        wait_for_all(server, pool, count)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@pytest.fixture(scope="module")
def two() -> Iterator[LiveServer]:
    server = start(2, 3)
    yield server
    server.stop()


def test_two_routers_answer_on_one_port_and_share_its_connections(two: LiveServer) -> None:
    pids = routers(two)
    assert sorted(pids) == [0, 1]
    assert two.process.pid not in pids.values()
    seen = Counter(fresh(two.url, "GET", "/healthz").headers["raas-router"] for _ in range(40))
    assert set(seen) == {"0", "1"}, seen  # 2**-39 that the kernel put all forty on one


def test_the_pool_is_split_between_the_routers(two: LiveServer) -> None:
    pids = routers(two)
    assert [len(pool_children(pids[i])) for i in (0, 1)] == [2, 1]
    assert metric(two.url, "raas_pool_size") == 3


def test_merged_metrics_count_the_samples_of_every_router(two: LiveServer) -> None:
    before = metric(two.url, "raas_samples_total")
    answered_by = set()
    for n in range(12):
        batch = samples(25, f"merged-{n}")
        answer = fresh(two.url, "POST", "/reward", json={"samples": batch})
        assert answer.status_code == 200
        assert [r["reward"] for r in answer.json()["results"]] == expected(batch)
        answered_by.add(answer.headers["raas-router"])
    assert answered_by == {"0", "1"}  # 2**-11 that one router took all twelve connections
    assert metric(two.url, "raas_samples_total") - before == 12 * 25
    assert metric(two.url, "raas_routers") == 2
    assert metric(two.url, "raas_routers_unscraped") == 0


def test_a_retried_batch_is_scored_once_whichever_router_it_reaches(two: LiveServer) -> None:
    key = str(uuid.uuid4())
    home = owner(None, key, 2)
    other = routers(two)[1 - home]
    batch = samples(40, key)
    before = metric(two.url, "raas_samples_total")
    headers = {"Idempotency-Key": key}
    first = fresh(two.url, "POST", "/reward", json={"samples": batch}, headers=headers)
    assert first.status_code == 200
    assert first.headers["raas-router"] == str(home)
    # the retry reaches the router that does not own the key (its private socket: no guessing
    # which router the kernel picks), and then any router over the port
    with private(slot_of(other), 1 - home) as client:
        retried = client.post("/reward", json={"samples": batch}, headers=headers)
    retries = [retried] + [
        fresh(two.url, "POST", "/reward", json={"samples": batch}, headers=headers)
        for _ in range(6)
    ]
    for answer in retries:
        assert answer.status_code == 200
        assert answer.headers["idempotent-replayed"] == "true"
        assert answer.headers["raas-router"] == str(home)
        assert answer.content == first.content
    assert metric(two.url, "raas_samples_total") - before == 40


def test_a_forwarded_request_is_checked_by_its_owner(two: LiveServer) -> None:
    """A key reused with another body is the owner's 422, passed back as it is."""
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    assert (
        fresh(
            two.url, "POST", "/reward", json={"samples": samples(3, "a")}, headers=headers
        ).status_code
        == 200
    )
    for _ in range(4):
        answer = fresh(
            two.url, "POST", "/reward", json={"samples": samples(3, "b")}, headers=headers
        )
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["type"] == "idempotency_conflict"


def test_a_router_that_does_not_answer_is_left_out_of_metrics_and_counted(
    two: LiveServer,
) -> None:
    stopped = routers(two)[1]
    os.kill(stopped, signal.SIGSTOP)
    try:
        for _ in range(20):  # a connection the kernel gives the stopped router waits: try again
            try:
                answer = httpx.get(two.url + "/metrics", timeout=5)
            except httpx.TimeoutException:
                continue
            break
        values = {
            s.name: s.value for f in text_string_to_metric_families(answer.text) for s in f.samples
        }
        assert answer.headers["raas-router"] == "0"
        assert values["raas_routers_unscraped"] == 1
        assert values["raas_pool_size"] == 2  # router 0's share of the pool only
    finally:
        os.kill(stopped, signal.SIGCONT)


def test_three_routers_drain_at_sigterm_and_exit_0() -> None:
    server = start(3, 3)
    try:
        pids = routers(server)
        assert sorted(pids) == [0, 1, 2]
        assert [len(pool_children(pids[i])) for i in range(3)] == [1, 1, 1]
        everything = descendants(server.process.pid)
        batch = samples(3000, "drain")
        answers: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: answers.append(
                fresh(server.url, "POST", "/reward", json={"samples": batch})
            )
        )
        sender.start()
        time.sleep(0.3)  # the batch is being scored
        server.process.send_signal(signal.SIGTERM)
        sender.join(60)
        assert server.process.wait(60) == 0
        assert answers[0].status_code == 200
        assert [r["reward"] for r in answers[0].json()["results"]] == expected(batch)
        assert wait_exited(everything, 30) == []
    finally:
        server.stop(signal.SIGKILL)


def test_a_killed_router_is_restarted_and_no_sample_is_lost() -> None:
    server = start(2, 2)
    try:
        old = routers(server)
        old_pool = pool_children(old[1])
        sent: list[list[dict[str, Any]]] = []
        results: list[list[float | None]] = []
        restarted = threading.Event()
        with RewardClient(server.url, max_batch=128, max_concurrency=8) as client:

            def score() -> None:  # until the killed router is back, and two batches more
                after = 0
                while after < 2:
                    after += restarted.is_set()
                    sent.append(samples(1024, f"kill-{len(sent)}"))
                    results.append(client.rewards_sync(sent[-1]))

            scorer = threading.Thread(target=score)
            scorer.start()
            time.sleep(1.0)
            os.kill(old[1], signal.SIGKILL)
            assert wait_exited([old[1]], 10) == []
            # its keyed batches, meanwhile, are scored where they land (here: router 0)
            key = next(k for k in map(str, range(100)) if owner(None, k, 2) == 1)
            batch = samples(20, "owner-down")
            with private(slot_of(old[0]), 0) as here:
                answer = here.post(
                    "/reward", json={"samples": batch}, headers={"Idempotency-Key": key}
                )
            assert answer.status_code == 200
            assert answer.headers["raas-router"] == "0"
            assert [r["reward"] for r in answer.json()["results"]] == expected(batch)
            wait_for_all(server, 2, 2)
            restarted.set()
            scorer.join(240)
            retries = client.stats.retries
        assert not scorer.is_alive()
        assert retries > 0  # the kill cut requests in flight: the client sent them again
        assert results == [expected(batch) for batch in sent]
        assert wait_exited([old[1], *old_pool], 30) == []
        new = routers(server)
        assert new[0] == old[0]
        assert new[1] != old[1]
        assert metric(server.url, "raas_router_restarts") == 1
        # the supervisor killed: its routers and their pool children go with it
        everything = descendants(server.process.pid)
        assert len(everything) >= 4
        server.process.kill()
        server.process.wait()
        assert wait_exited(everything, 30) == []
    finally:
        server.stop(signal.SIGKILL)


def test_a_port_in_use_is_an_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "reward_service.cli",
            "serve",
            "--routers",
            "2",
            "--port",
            str(port),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


def test_a_router_that_cannot_start_stops_the_supervisor_with_1() -> None:
    """Its pool cannot start in 10 ms: the app's startup fails, in every router."""
    env = {
        **os.environ,
        "RAAS_ROUTERS": "2",
        "RAAS_POOL_WORKERS": "2",
        "RAAS_WORKER_START_TIMEOUT_S": "0.01",
        "RAAS_LOG_FORMAT": "text",
    }
    command = [sys.executable, "-m", "reward_service.cli", "serve", "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "before serving: stopping" in result.stderr
