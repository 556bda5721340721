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
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.live import LiveServer  # noqa: E402
from reward_service.contract import Task  # noqa: E402
from reward_service.registry import VERIFIERS, Context  # noqa: E402
from reward_service.workers.execute import run_task  # noqa: E402


def as_task(sample: dict[str, Any], context: Context) -> Task:
    params = VERIFIERS.get(sample["verifier"]).params.model_validate(sample.get("params", {}))
    ground_truth = orjson.dumps(sample["ground_truth"], option=orjson.OPT_SORT_KEYS).decode()
    return Task(
        sample["verifier"], params, sample["response"], ground_truth, sample.get("format"), context
    )


def loop_rate(
    batch: list[dict[str, Any]], rounds: int, context: Context
) -> tuple[float, list[float]]:
    """Samples/s of ``run_task`` called in a plain loop on one core."""
    tasks = [as_task(s, context) for s in batch]
    accuracies = [run_task(t).accuracy for t in tasks[:64]]  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        accuracies = [run_task(t).accuracy for t in tasks]
        times.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times), [float(a or 0) for a in accuracies]


def service_rate(
    batch: list[dict[str, Any]], rounds: int, workers: int, **extra: Any
) -> tuple[float, list[float]]:
    """Samples/s of one ``POST /reward`` of the whole batch to a real ``raas serve``."""
    server = LiveServer.start(RAAS_POOL_WORKERS=str(workers))
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            warm = client.post("/reward", content=_body(batch[:64], extra), headers=_JSON)
            warm.raise_for_status()
            times, accuracies = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                response = client.post("/reward", content=_body(batch, extra), headers=_JSON)
                times.append(time.perf_counter() - start)
                accuracies = [r["components"]["accuracy"] for r in response.json()["results"]]
    finally:
        server.stop()
    return len(batch) / statistics.median(times), accuracies


_JSON = {"content-type": "application/json"}


def _body(batch: list[dict[str, Any]], extra: dict[str, Any]) -> bytes:
    """orjson, as ``trainer_client.RewardClient`` encodes a batch."""
    return orjson.dumps({"samples": batch, **extra})


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
