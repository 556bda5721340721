"""A real ``raas serve`` process on 127.0.0.1, for integration tests and benchmarks."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

import httpx
import uvicorn
from fastapi import FastAPI

from devtools.ports import bound_socket, free_port


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_exited(pids: list[int], give_up_s: float = 30.0) -> list[int]:
    """Block until every process in ``pids`` has exited (pidfds turn readable at exit, no
    polling); returns those still alive when ``give_up_s`` ran out."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
    try:
        end = time.monotonic() + give_up_s
        waiting = list(fds)
        while waiting and (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select(waiting, [], [], left)
            waiting = [fd for fd in waiting if fd not in ready]
    finally:
        for fd in fds:
            os.close(fd)
    return [pid for pid in pids if is_alive(pid)]


def is_alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"  # a zombie is dead
    except (FileNotFoundError, ProcessLookupError):
        return False


_SEND = """
import sys, urllib.request
url, body, answer, *headers = sys.argv[1:]
request = urllib.request.Request(url, data=open(body, "rb").read(), method="POST")
for header in headers:
    request.add_header(*header.split(": ", 1))
with urllib.request.urlopen(request, timeout=600) as response:
    open(answer, "wb").write(response.read())
"""


def post_elsewhere(
    url: str, body: Path, answer: Path, headers: dict[str, str]
) -> subprocess.Popen[bytes]:
    """POST ``body``'s bytes to ``url`` from another process and write the answer's bytes to
    ``answer`` (a status over 399 exits non-zero). Sent with urllib (one ``sendall``): a sender
    in the test's own process would hold its GIL, and httpx's sync client copies what is left
    of a body after each ``send`` (seconds for 200 MB), so a probe would time the sender."""
    lines = [f"{name}: {value}" for name, value in headers.items()]
    return subprocess.Popen([sys.executable, "-c", _SEND, url, str(body), str(answer), *lines])


@dataclass
class LiveServer:
    """A ``raas`` role (``serve`` by default) as a real process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls,
        *role: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        wait: bool = True,
        log: IO[bytes] | None = None,
        **env: str,
    ) -> LiveServer:
        """``host``: the loopback address it binds (any of 127.0.0.0/8: several servers on one
        port, as pods behind one name). ``log``: where its stderr (the log lines) goes; the
        test's stderr by default. One router process, two pool children and no warm spare unless
        ``env`` says otherwise: ``RAAS_ROUTERS``' default (``auto``) would start several on a
        machine of 8 cores or more, and the tests and benchmarks that read a router's pid, its
        pool children or its CPU mean one; a spare only speeds up the replacement of a killed
        child, and spawning one costs each start a second."""
        port = port or free_port()
        base = {
            "RAAS_ROUTERS": "1",
            "RAAS_POOL_WORKERS": "2",
            "RAAS_POOL_SPARES": "0",
            "RAAS_LOG_LEVEL": "warning",
        }
        environ = {**os.environ, **base, **env}
        command = [sys.executable, "-m", "reward_service.cli", *(role or ("serve",))]
        argv = [*command, "--host", host, "--port", str(port)]
        process = subprocess.Popen(argv, env=environ, stderr=log)
        server = cls(f"http://{host}:{port}", process)
        if wait:
            server.wait_ready()
        return server

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def wait_ready(self, timeout: float = 90.0, probe: str = "/readyz") -> None:
        """Until ``probe`` answers 200 (``/healthz``: up, though perhaps not ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + probe, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("server did not become ready")

    @property
    def pool_pids(self) -> list[int]:
        return children_of(self.process.pid)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class InThreadServer:
    """A stand-in peer (an app we write for a server that cannot run here) served by uvicorn
    in a thread on 127.0.0.1. Subclasses build ``self.app`` and call ``super().__init__()``."""

    app: FastAPI

    def __init__(self) -> None:
        self.socket = bound_socket()
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
