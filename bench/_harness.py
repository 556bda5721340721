"""Shared by the benchmarks: the same samples through a plain in-process loop and through HTTP.

Both sides do identical work through the same code path (``run_task``: the verifier plus its
ground-truth cache), both are warmed up, and the median of several rounds is reported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.live import LiveServer  # noqa: E402
from reward_service.contract.registry import VERIFIERS, Context  # noqa: E402
from reward_service.contract.task import Task  # noqa: E402
from reward_service.gc_policy import tune_gc  # noqa: E402
from reward_service.pool.execute import run_task  # noqa: E402


def as_task(sample: dict[str, Any], context: Context) -> Task:
    params = VERIFIERS.get(sample["verifier"]).params.model_validate(sample.get("params", {}))
    ground_truth = orjson.dumps(sample["ground_truth"], option=orjson.OPT_SORT_KEYS).decode()
    return Task(
        sample["verifier"], params, sample["response"], ground_truth, sample.get("format"), context
    )


@dataclass
class Comparison:
    """Samples/s of the same batch through ``run_task`` in a plain loop on one core and through
    one ``POST /reward`` to a real ``raas serve``, medians over rounds taken in turn (a noisy
    machine slows both sides of a round alike)."""

    loop: float
    service: float
    loop_accuracy: list[float]
    service_accuracy: list[float]


def compare(
    batch: list[dict[str, Any]], rounds: int, workers: int, context: Context, **extra: Any
) -> Comparison:
    tasks = [as_task(s, context) for s in batch]
    body = _body(batch, extra)
    server = LiveServer.start(RAAS_POOL_WORKERS=str(workers), RAAS_POOL_SPARES="1")
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            for task in tasks[:64]:  # warm-up, both sides
                run_task(task)
            client.post(
                "/reward", content=_body(batch[:64], extra), headers=_JSON
            ).raise_for_status()
            loops, services = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                loop_accuracy = [float(run_task(t).accuracy or 0) for t in tasks]
                loops.append(time.perf_counter() - start)
                start = time.perf_counter()
                response = client.post("/reward", content=body, headers=_JSON)
                services.append(time.perf_counter() - start)
                response.raise_for_status()
                results = response.json()["results"]
                service_accuracy = [r["components"]["accuracy"] for r in results]
    finally:
        server.stop()
    n = len(batch)
    return Comparison(
        n / statistics.median(loops),
        n / statistics.median(services),
        loop_accuracy,
        service_accuracy,
    )


_JSON = {"content-type": "application/json"}


def _body(batch: list[dict[str, Any]], extra: dict[str, Any]) -> bytes:
    """orjson, as ``trainer_client.RewardClient`` encodes a batch."""
    return orjson.dumps({"samples": batch, **extra})


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (threads included) from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def alternating(ways: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median CPU seconds of each way, their runs taking turns (a slow spell of this shared
    machine then slows every way alike), under the router's garbage-collector policy."""
    tune_gc()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(spent) for name, spent in times.items()}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def window_mean(records: list[dict[str, Any]], name: str, first: bool, size: int = 20) -> float:
    """The mean of ``name`` over a training log's first (or last) ``size`` steps that have it."""
    values = [r[name] for r in records if name in r]
    chosen = values[:size] if first else values[-size:]
    return round(sum(chosen) / len(chosen), 3) if chosen else float("nan")
