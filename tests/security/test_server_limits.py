"""What one client can hold on a real ``raas serve``: stalled bodies and headers are cut off,
connections are capped, and SIGTERM lets requests in flight finish within the grace period."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devtools.live import LiveServer, is_alive

GIVE_UP_S = 60.0  # generous: polls end as soon as the condition holds
PATHOLOGICAL = {"response": "\\boxed{10^{10^{10^{10}}}}", "ground_truth": "1", "verifier": "math"}
EASY = {"response": "\\boxed{4}", "ground_truth": "4", "verifier": "math"}


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GIVE_UP_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def stalled(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    sock.setblocking(False)
    return sock


def drained(sock: socket.socket, received: bytearray) -> bool:
    """Whether the server has closed ``sock`` (what it sent first is kept in ``received``)."""
    try:
        while chunk := sock.recv(65536):
            received.extend(chunk)
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer.start(
        RAAS_BODY_IDLE_TIMEOUT_S="1", RAAS_HEADER_TIMEOUT_S="1", RAAS_BODY_TIMEOUT_S="1.5",
        RAAS_MAX_CONNECTIONS="64",
    )  # fmt: skip
    yield live
    live.stop()


def test_fifty_connections_stalled_mid_body_get_408_and_are_closed(server: LiveServer) -> None:
    head = b"POST /reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 100000\r\n\r\n" + b'{"samples": ['
    socks = [stalled(server.port, head) for _ in range(50)]
    received = [bytearray() for _ in socks]
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # served meanwhile
        poll(lambda: all(drained(s, r) for s, r in zip(socks, received, strict=True)), "closes")
    finally:
        for sock in socks:
            sock.close()
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in received), received[0][:200]


def test_connections_stalled_mid_headers_are_closed(server: LiveServer) -> None:
    socks = [stalled(server.port, b"POST /reward HTTP/1.1\r\nHost: x\r\n") for _ in range(20)]
    received = [bytearray() for _ in socks]
    try:
        poll(lambda: all(drained(s, r) for s, r in zip(socks, received, strict=True)), "closes")
    finally:
        for sock in socks:
            sock.close()
    assert not any(received)  # no request was ever formed


def test_a_body_trickled_past_the_total_deadline_gets_408(server: LiveServer) -> None:
    body = b'{"samples": [], "step": 1}' + b" " * 64

    def trickle() -> Iterator[bytes]:
        for i in range(0, len(body), 4):
            time.sleep(0.3)  # each gap below the idle timeout; all of them past the deadline
            yield body[i : i + 4]

    response = httpx.post(f"{server.url}/reward", content=trickle(), timeout=GIVE_UP_S)
    assert response.status_code == 408
    assert response.json()["detail"][0]["type"] == "timeout"


def test_past_the_connection_limit_requests_get_503_at_once() -> None:
    live = LiveServer.start(RAAS_MAX_CONNECTIONS="8", RAAS_HEADER_TIMEOUT_S="600")
    try:
        socks = [stalled(live.port, b"GET /he") for _ in range(10)]
        try:
            poll(lambda: httpx.get(f"{live.url}/healthz").status_code == 503, "a 503")
        finally:
            for sock in socks:
                sock.close()
        poll(lambda: httpx.get(f"{live.url}/healthz").status_code == 200, "service again")
    finally:
        live.stop()


def busy_children(server: LiveServer) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("raas_pool_busy "))
    return float(line.split()[1])


def post_in_background(url: str, samples: list[dict[str, str]]) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def post() -> None:
        try:
            response = httpx.post(f"{url}/reward", json={"samples": samples}, timeout=GIVE_UP_S)
            outcome["response"] = response
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=post)
    thread.start()
    outcome["thread"] = thread
    return outcome


class TestGracefulShutdown:
    def test_sigterm_lets_the_request_in_flight_finish_then_kills_the_children(self) -> None:
        live = LiveServer.start(RAAS_SAMPLE_TIMEOUT_S="1", RAAS_SHUTDOWN_GRACE_S="60")
        children = live.pool_pids
        outcome = post_in_background(live.url, [EASY, PATHOLOGICAL, EASY])
        poll(lambda: busy_children(live) >= 1, "the batch to reach the pool")
        live.process.send_signal(signal.SIGTERM)
        outcome["thread"].join(GIVE_UP_S)  # type: ignore[attr-defined]
        response = outcome["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200
        statuses = [r["status"] for r in response.json()["results"]]
        assert statuses == ["ok", "timeout", "ok"]
        # uvicorn shuts down, then re-raises the signal so the exit status tells why
        assert live.process.wait(GIVE_UP_S) in (0, -signal.SIGTERM)
        poll(lambda: not any(is_alive(pid) for pid in children), "the children to die")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{live.url}/healthz")

    def test_past_the_grace_period_work_is_cancelled_and_the_children_killed(self) -> None:
        live = LiveServer.start(RAAS_SAMPLE_TIMEOUT_S="300", RAAS_SHUTDOWN_GRACE_S="0.5")
        children = live.pool_pids
        outcome = post_in_background(live.url, [PATHOLOGICAL])
        poll(lambda: busy_children(live) >= 1, "the batch to reach the pool")
        live.process.send_signal(signal.SIGTERM)
        live.process.wait(GIVE_UP_S)  # far before the 300 s deadline of the sample
        outcome["thread"].join(GIVE_UP_S)  # type: ignore[attr-defined]
        response = outcome.get("response")
        assert "error" in outcome or (
            isinstance(response, httpx.Response) and response.status_code != 200
        )
        poll(lambda: not any(is_alive(pid) for pid in children), "the children to die")
