"""What one client can hold on a real ``raas serve``: stalled bodies and headers are cut off,
connections are capped, and SIGTERM lets requests in flight finish within the grace period."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.live import LiveServer, is_alive
from reward_service.http.ops import body_deadline
from reward_service.settings import Settings

GIVE_UP_S = 60.0  # generous: polls end as soon as the condition holds
LIVENESS_TIMEOUT_S = 1.0  # a Kubernetes probe's default timeoutSeconds
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
        RAAS_BODY_IDLE_TIMEOUT_S="1",
        RAAS_HEADER_TIMEOUT_S="1",
        RAAS_BODY_TIMEOUT_S="1.5",
        RAAS_MAX_CONNECTIONS="64",
    )
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


def test_past_the_connection_limit_work_gets_503_at_once_and_probes_do_not() -> None:
    live = LiveServer.start(RAAS_MAX_CONNECTIONS="8", RAAS_HEADER_TIMEOUT_S="600")
    try:
        socks = [stalled(live.port, b"GET /he") for _ in range(10)]
        try:
            poll(lambda: httpx.get(f"{live.url}/v1/verifiers").status_code == 503, "a 503")
            assert httpx.get(f"{live.url}/healthz").status_code == 200
            assert httpx.get(f"{live.url}/readyz?verbose=1").status_code == 200
        finally:
            for sock in socks:
                sock.close()
        poll(lambda: httpx.get(f"{live.url}/v1/verifiers").status_code == 200, "service again")
    finally:
        live.stop()


def trickle(socks: list[socket.socket], every_s: float, stop: threading.Event) -> None:
    """One byte to each socket every ``every_s`` until ``stop`` (or the server closes it)."""
    while not stop.wait(every_s):
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.send(b" ")


MIB = 1 << 20


@pytest.mark.parametrize(
    ("now", "received", "deadline", "why"),
    [
        (0.0, 0, 5.0, "nothing yet: the grace period"),
        (4.0, 2, 5.0 + 2 / 1024, "a byte every 2 s: 1/1,024 s bought per byte, cut after 5 s"),
        (9.0, 8 * 1024, 13.0, "8 KiB by 9 s, slower than 1 KiB/s: 8 s bought past the grace"),
        (1.0, MIB, 11.0, "a real upload: the idle timeout is the nearest"),
        (595.0, 700 * MIB, 600.0, "a huge body at a good rate: the total"),
    ],
)
def test_a_body_s_deadline_is_the_nearest_of_idle_rate_and_total(
    now: float, received: int, deadline: float, why: str
) -> None:
    """The defaults: idle 10 s, rate 1,024 bytes/s after 5 s, total 600 s; the body began at 0."""
    assert body_deadline(Settings(), 0.0, now, received) == pytest.approx(deadline), why


def test_probes_answer_while_trickling_bodies_hold_every_connection_and_these_are_cut() -> None:
    """The issue's case: 64 clients sending a body a byte every 2 s against
    ``RAAS_MAX_CONNECTIONS=64``, every other setting as shipped. The gaps are under the idle
    timeout (10 s) and the total would be 600 s: only the minimum rate (1,024 bytes/s after
    5 s) cuts them."""
    live = LiveServer.start(RAAS_MAX_CONNECTIONS="64")
    head = b"POST /reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    socks = [stalled(live.port, head + b"Content-Length: 100000\r\n\r\n{") for _ in range(64)]
    received = [bytearray() for _ in socks]
    stop = threading.Event()
    threading.Thread(target=trickle, args=(socks, 2.0, stop), daemon=True).start()
    try:
        start = time.monotonic()
        assert httpx.post(f"{live.url}/reward", json={"samples": []}).status_code == 503  # full
        for path in ("/healthz", "/readyz"):
            probe = httpx.get(f"{live.url}{path}", timeout=LIVENESS_TIMEOUT_S)
            assert probe.status_code == 200, path
        poll(lambda: all(drained(s, r) for s, r in zip(socks, received, strict=True)), "cuts")
        assert time.monotonic() - start < 30  # not the idle timeout's, nor the total's 600 s
    finally:
        stop.set()
        for sock in socks:
            sock.close()
        live.stop()
    # each was cut (408) or, the one over the limit, refused at once (503)
    statuses = Counter(bytes(r[9:12]) for r in received)
    assert set(statuses) <= {b"408", b"503"}, statuses
    assert statuses[b"408"] >= 60, statuses


def test_a_client_hanging_up_mid_body_is_counted_without_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        live = LiveServer.start(log=sink)
        try:
            head = b"POST /reward HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            for _ in range(3):
                sock = stalled(live.port, head + b'{"samples": [')
                time.sleep(0.2)  # the handler is reading the body
                sock.close()
            poll(lambda: disconnects(live) == 3, "three disconnects counted")
            assert httpx.get(f"{live.url}/healthz").status_code == 200
        finally:
            live.stop()
    text = log.read_text()
    assert "Traceback" not in text
    assert '"level":"error"' not in text


def disconnects(server: LiveServer) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    line = 'raas_client_disconnects_total{stage="body"} '
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(line))


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
    def test_sigterm_drops_readiness_then_lets_the_request_in_flight_finish(self) -> None:
        live = LiveServer.start(RAAS_SAMPLE_TIMEOUT_S="3", RAAS_SHUTDOWN_GRACE_S="60")
        children = live.pool_pids
        outcome = post_in_background(live.url, [EASY, PATHOLOGICAL, EASY])
        poll(lambda: busy_children(live) >= 1, "the batch to reach the pool")
        live.process.send_signal(signal.SIGTERM)
        # readiness drops first, while the listener stays open for the work in flight
        poll(lambda: httpx.get(f"{live.url}/readyz").status_code == 503, "readiness to drop")
        assert httpx.get(f"{live.url}/readyz").json() == {"status": "shutting down"}
        assert httpx.get(f"{live.url}/healthz").status_code == 200
        refused = httpx.post(f"{live.url}/reward", json={"samples": [EASY]})
        assert refused.status_code == 503  # new work: retry elsewhere or after the restart
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["connection"] == "close"
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

    def test_past_the_grace_period_work_is_answered_503_and_the_children_killed(
        self, tmp_path: Path
    ) -> None:
        log = tmp_path / "server.log"
        with log.open("wb") as sink:
            live = LiveServer.start(
                RAAS_SAMPLE_TIMEOUT_S="300", RAAS_SHUTDOWN_GRACE_S="0.5", log=sink
            )
            children = live.pool_pids
            outcome = post_in_background(live.url, [PATHOLOGICAL])
            poll(lambda: busy_children(live) >= 1, "the batch to reach the pool")
            live.process.send_signal(signal.SIGTERM)
            live.process.wait(GIVE_UP_S)  # far before the 300 s deadline of the sample
        outcome["thread"].join(GIVE_UP_S)  # type: ignore[attr-defined]
        response = outcome["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 503  # not 500: the client retries it
        assert response.headers["retry-after"] == "1"
        assert response.json()["detail"][0]["type"] == "unavailable"
        poll(lambda: not any(is_alive(pid) for pid in children), "the children to die")
        assert "Exception in ASGI application" not in log.read_text()
