"""``raas serve`` with ``RAAS_ROUTERS`` > 1: a small supervisor and N router processes on one port.

One router process (HTTP, validation, planning, summaries, metrics) caps near 48,000 cheap
samples/s whatever the pool size, so a big node runs several. The supervisor imports no app
code (no FastAPI app, pool or verifier: only the settings and the standard library): it

- checks that the port is free (a plain bind: another server on it is an error, as with one
  process), then holds it with ``SO_REUSEPORT`` so nothing else takes it while a router restarts;
- starts N routers (``python -m reward_service.cli serve``, a fresh interpreter: spawned, not
  forked), each binding host:port with ``SO_REUSEPORT``: the kernel spreads new connections over
  the routers by a hash of their addresses. One listening socket shared by all would need no
  reuse, but with it every idle router wakes for each connection and the first to call
  ``accept`` takes every connection queued (uvloop accepts until the queue is empty), so the
  eight connections a trainer client opens at once tend to land on one process;
- gives each router its share of the node-wide settings (:func:`shares`), the index it keeps
  across restarts and a private Unix socket path (``reward_service.http.siblings``: keyed batches
  go to the router that owns their key, ``/metrics`` is merged);
- restarts a router that exits, with the same index, after a back-off that grows while it keeps
  failing (:func:`backoff_s`); a router that fails its very first start stops them all, and the
  supervisor exits 1, as one process that cannot start does;
- forwards SIGTERM and SIGINT (routers run in their own session, so a terminal's Ctrl-C reaches
  them once, through here) and exits when every router has, 0 when all exited cleanly.

Routers die with the supervisor (``PR_SET_PDEATHSIG``, as pool children die with their router).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reward_service.settings import usable_cores

if TYPE_CHECKING:
    from reward_service.settings import Settings

logger = logging.getLogger("raas.supervisor")
SLOT_ENV = "_RAAS_ROUTER"  # the slot a router process was started in (not a RAAS_ setting)
CORES_PER_ROUTER = 4
BACKOFF_FIRST_S, BACKOFF_MAX_S, CRASH_WINDOW_S = 0.5, 30.0, 60.0
# node-wide bounds a router would otherwise hold N times over: (setting, least share)
SPLIT = (
    ("pool_workers", 1),
    ("max_queued_tasks", 1),
    ("max_connections", 1),
    ("memory_ceiling_mb", 1),  # 0 (off) stays 0
    ("idempotency_cache_bytes", 0),
)


def router_count(settings: Settings, cores: int | None = None) -> int:
    """``RAAS_ROUTERS``: a number, or ``auto``: one router per 4 usable cores, at least one.
    Four because a router spends 15–32 µs of CPU on a cheap sample and 70–88 µs on a long-CoT
    one against 19–92 µs and 265–600 µs in the pool (``bench/results/router_cpu.json``): the
    best count is cores × router / (router + pool), a half of the node for ``choice``, a third for
    ``iou``, a quarter for mixed long-CoT traffic (RL's usual mix: 95 % of every core doing both
    shares on 64 cores, against 60 % at one router per 8 cores) and an eighth for long-CoT math
    alone (86 %). A machine of under 8 cores keeps one process. In-process models
    (``RAAS_MODELS``) would be loaded once per router: ``auto`` is then 1."""
    if settings.routers != "auto":
        return settings.routers
    if settings.models:
        return 1
    return max(1, (cores if cores is not None else usable_cores()) // CORES_PER_ROUTER)


def split(total: int, parts: int, least: int) -> list[int]:
    """``total`` in ``parts`` as even as can be (the first get one more), each at least
    ``least``; a total of 0 (a bound turned off) stays 0 everywhere."""
    if total == 0:
        return [0] * parts
    base, extra = divmod(total, parts)
    return [max(least, base + (i < extra)) for i in range(parts)]


def shares(settings: Settings, parts: int) -> list[dict[str, int]]:
    """Each router's share of the node-wide bounds (:data:`SPLIT`): the pool, the queue, the
    connections, the memory ceiling and the idempotency cache's bytes. The cache's entry count is
    not split: each router holds only the keys it owns (``reward_service.http.siblings``)."""
    columns = {name: split(getattr(settings, name), parts, least) for name, least in SPLIT}
    return [{name: column[i] for name, column in columns.items()} for i in range(parts)]


@dataclass(frozen=True, slots=True)
class Slot:
    """What a router process is told: its index among ``count``, the directory of the routers'
    Unix sockets, how often this index was restarted, the supervisor's pid and the pipe on
    which it says it is serving."""

    index: int
    count: int
    directory: str
    supervisor: int
    ready_fd: int = -1
    restarts: int = 0

    def socket_path(self, index: int) -> str:
        return os.path.join(self.directory, f"router-{index}.sock")

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> Slot | None:
        value = os.environ.get(SLOT_ENV)
        return None if not value else cls(**json.loads(value))

    def die_with_supervisor(self) -> None:
        """SIGKILL when the supervisor dies; if it died before this ran, exit now."""
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != self.supervisor:
            raise SystemExit("raas router: the supervisor is gone")

    def sockets(self, host: str, port: int) -> list[socket.socket]:
        """host:port with ``SO_REUSEPORT`` (the kernel spreads connections over the routers), and
        this router's own Unix socket, which its siblings use."""
        public = reuse_port(host, port)  # it listens once the app has started: not before
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path(self.index))  # left by this index before a restart
        private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        private.bind(self.socket_path(self.index))
        return [public, private]

    def serving(self) -> None:
        """Tell the supervisor this router is serving (called once, when uvicorn has started)."""
        if self.ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, b"1")
                os.close(self.ready_fd)


def backoff_s(recent_exits: int) -> float:
    """Delay before restarting a router that exited ``recent_exits`` times in the last minute:
    0.5 s, doubling to 30 s."""
    return float(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, recent_exits - 1)))


def hold_port(host: str, port: int) -> socket.socket:
    """The port, checked free with a plain bind (``SO_REUSEPORT`` alone would let a second raas
    share a port already in use), then held by a bound, never listening, ``SO_REUSEPORT``
    socket: it takes no connections, and keeps the port while routers restart."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.create_server((host, port), family=family) as probe:
        port = probe.getsockname()[1]  # port 0: the one the kernel chose, for every router
    return reuse_port(host, port)


def reuse_port(host: str, port: int) -> socket.socket:
    """A socket bound to host:port with ``SO_REUSEPORT``, not listening yet."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


@dataclass(slots=True)
class _Router:
    slot: Slot
    process: subprocess.Popen[bytes]
    ready: int  # the read end of its readiness pipe (-1 once read)
    pidfd: int
    served: bool = False


@dataclass
class Supervisor:
    settings: Settings
    count: int
    routers: dict[int, _Router] = field(default_factory=dict)
    exits: dict[int, list[float]] = field(default_factory=dict)
    due: dict[int, float] = field(default_factory=dict)  # index → when to restart it
    stopping: bool = False
    failed: bool = False
    port: int = 0
    directory: str = ""
    forwarded: int = 0  # the signal passed on to the routers

    def run(self) -> int:
        try:
            holder = hold_port(self.settings.host, self.settings.port)
        except OSError as exc:
            logger.error("cannot listen on %s:%s: %s", self.settings.host, self.settings.port, exc)
            return 1
        self.port = holder.getsockname()[1]
        self.directory = tempfile.mkdtemp(prefix="raas-routers-")
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            for index in range(self.count):
                if not self.stopping:
                    self._start(index)
            logger.info("%d routers on %s:%s", self.count, self.settings.host, self.port)
            while self.routers or (self.due and not self.stopping):
                self._wait(wake_r)
        finally:
            for router in self.routers.values():
                router.process.kill()
            holder.close()
            shutil.rmtree(self.directory, ignore_errors=True)
        return 1 if self.failed else 0

    def _on_signal(self, signum: int, _: object) -> None:
        self.stopping, self.forwarded = True, signum
        self.due.clear()
        for router in self.routers.values():
            with contextlib.suppress(ProcessLookupError):
                router.process.send_signal(signum)

    def _start(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        slot = Slot(index, self.count, self.directory, os.getpid(), ready_w, self._restarts(index))
        share = shares(self.settings, self.count)[index]
        env = {
            **os.environ,
            SLOT_ENV: slot.to_env(),
            "RAAS_ROUTERS": "1",
            "RAAS_LOG_LEVEL": self.settings.log_level,
            "RAAS_HOST": self.settings.host,
            "RAAS_PORT": str(self.port),
            **{f"RAAS_{k.upper()}": str(v) for k, v in share.items()},
        }
        command = [sys.executable, "-m", "reward_service.cli", "serve"]
        process = subprocess.Popen(command, env=env, pass_fds=(ready_w,), start_new_session=True)
        os.close(ready_w)
        self.routers[index] = _Router(slot, process, ready_r, os.pidfd_open(process.pid))

    def _restarts(self, index: int) -> int:
        return len(self.exits.get(index, ()))

    def _wait(self, wake: int) -> None:
        timeout = max(0.0, min(self.due.values()) - time.monotonic()) if self.due else None
        fds = [wake, *(r.pidfd for r in self.routers.values())]
        fds += [r.ready for r in self.routers.values() if r.ready >= 0]
        readable, _, _ = select.select(fds, [], [], timeout)
        if wake in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 512)
        for index, router in list(self.routers.items()):
            if router.ready in readable:
                router.served = os.read(router.ready, 1) == b"1"
                os.close(router.ready)
                router.ready = -1
            if router.pidfd in readable:
                self._exited(index, router)
        now = time.monotonic()
        for index in [i for i, at in self.due.items() if at <= now]:
            del self.due[index]
            self._start(index)

    def _exited(self, index: int, router: _Router) -> None:
        code = router.process.wait()
        os.close(router.pidfd)
        if router.ready >= 0:
            os.close(router.ready)
        del self.routers[index]
        if self.stopping:  # uvicorn re-raises the signal it drained for: that exit is clean
            clean = code in (0, -self.forwarded)
            self.failed = self.failed or not clean
            log = logger.info if clean else logger.error
            log("router %d (pid %d) exited with %s", index, router.process.pid, code)
            return
        first_start = not router.served and router.slot.restarts == 0
        if first_start:
            logger.error("router %d exited with %s before serving: stopping", index, code)
            self.failed = True
            self._on_signal(signal.SIGTERM, None)
            return
        now = time.monotonic()
        recent = [t for t in self.exits.setdefault(index, []) if t > now - CRASH_WINDOW_S]
        delay = backoff_s(len(recent) + 1)
        self.exits[index].append(now)
        self.due[index] = now + delay
        logger.warning(
            "router %d (pid %d) exited with %s; restart %d in %.1f s",
            index,
            router.process.pid,
            code,
            self._restarts(index),
            delay,
        )


def supervise(settings: Settings, count: int) -> int:
    """Run ``count`` routers until SIGTERM/SIGINT; the exit code (see the module's docstring)."""
    return Supervisor(settings, count).run()
