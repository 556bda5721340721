"""The router's memory ceiling: past it, new work is refused (503 + ``Retry-After``) so that the
pod is not OOM-killed with every trainer's batch in flight.

``RAAS_MEMORY_CEILING_MB`` (default: 80% of the cgroup memory limit, or of physical memory where
there is none; 0 turns it off) is compared with the process's resident set size when a request
arrives. Work arrives by POST (``/reward`` and the compat endpoints); GETs
(``/healthz``, ``/readyz``, ``/metrics``, the lists) are cheap and always answered, so probes
keep passing while work is refused. Above the ceiling the guard first runs a full garbage
collection and hands freed heap back to the kernel (at most every ``COLLECT_EVERY_S``): memory
that only a collection would free is never a reason to refuse. What is left is work in flight,
which ends and frees its memory; a refused trainer retries after ``Retry-After``.

This module imports only the standard library: ``settings`` reads its default here.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reward_service.contract.errors import detail

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from reward_service.metrics import Metrics

CEILING_SHARE = 0.8  # of the memory limit: the rest is headroom for bodies being read
COLLECT_EVERY_S = 2.0
RETRY_AFTER_S = 5
_MIB = 1 << 20
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


def cgroup_limit(
    proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The memory limit of this process's cgroup in bytes (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``), or None where there is none."""
    found = [
        limit
        for line in _lines(proc)
        for file in _limit_files(line, root)
        if (limit := _read_limit(file)) is not None
    ]
    return min(found, default=None)


def _limit_files(line: str, root: Path) -> list[Path]:
    """Where one ``/proc/self/cgroup`` line's memory limit is written: under the path it names
    (a process on a host) and at the root of the hierarchy (a container sees its own there)."""
    _, controllers, path = line.split(":", 2)
    relative = path.strip().lstrip("/")
    if controllers == "":  # cgroup v2
        return [root / relative / "memory.max", root / "memory.max"]
    if "memory" in controllers.split(","):  # cgroup v1
        mount = root / "memory"
        return [mount / relative / "memory.limit_in_bytes", mount / "memory.limit_in_bytes"]
    return []


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.count(":") >= 2]
    except OSError:
        return []


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < _UNLIMITED else None


def physical_memory() -> int:
    """Bytes of RAM, or 0 where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def default_ceiling_mb() -> int:
    """``CEILING_SHARE`` of the cgroup limit, or of physical memory without one (0: unknown)."""
    limits = [limit for limit in (cgroup_limit(), physical_memory()) if limit]
    return int(min(limits) * CEILING_SHARE) // _MIB if limits else 0


def rss(pid: int | str = "self") -> int:
    """A process's resident set size in bytes (Linux: ``/proc/<pid>/statm``; elsewhere 0)."""
    try:
        resident = Path(f"/proc/{pid}/statm").read_text().split()[1]
    except (OSError, IndexError):
        return 0
    return int(resident) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``: freed heap back to the kernel, so that RSS shows what is held."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return trim
    return None


class MemoryGuard:
    """Admits work while RSS is under ``ceiling`` bytes (0: always)."""

    def __init__(
        self,
        ceiling: int,
        metrics: Metrics | None = None,
        *,
        read_rss: Callable[[], int] = rss,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling, self.metrics = ceiling, metrics
        self.read_rss, self.clock = read_rss, clock
        self._collected_at = -COLLECT_EVERY_S
        self._trim = _malloc_trim()
        if metrics is not None:
            metrics.memory_ceiling.set(ceiling)
            metrics.memory_rss.set_function(read_rss)

    def admit(self) -> bool:
        if not self.ceiling or self.read_rss() < self.ceiling:
            return True
        if self.clock() - self._collected_at >= COLLECT_EVERY_S:
            self.free()
            if self.read_rss() < self.ceiling:
                return True
        if self.metrics is not None:
            self.metrics.memory_refused.inc()
        return False

    def free(self) -> None:
        """A full collection, then freed heap back to the kernel."""
        self._collected_at = self.clock()
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        if self.metrics is not None:
            self.metrics.memory_collections.inc()


class MemoryCeiling:
    """ASGI middleware: a POST that arrives while the guard refuses is answered 503 with
    ``Retry-After`` before its body is read; everything else passes."""

    def __init__(self, app: ASGIApp, guard: MemoryGuard) -> None:
        self.app, self.guard = app, guard
        mb = guard.ceiling // _MIB
        msg = f"the server is above its memory ceiling ({mb} MiB); retry after {RETRY_AFTER_S} s"
        self._body = json.dumps({"detail": [detail([], msg, "memory")]}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or self.guard.admit():
            await self.app(scope, receive, send)
            return
        await send(_start(len(self._body)))
        await send({"type": "http.response.body", "body": self._body})


def _start(length: int) -> dict[str, Any]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(length).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    return {"type": "http.response.start", "status": 503, "headers": headers}
