"""How long the largest batch the limits allow takes from its first byte to its answer: what
``RAAS_SHUTDOWN_GRACE_S`` (and Kubernetes' ``terminationGracePeriodSeconds``) are sized from.

``RAAS_MAX_SAMPLES`` (65,536) rollouts of realistic math (``bench/workload.py``: long chains of
thought, GRPO groups of 8) in one ``POST /reward``, sent from another process to a real
``raas serve`` with ``--workers`` pool children; the wall time is split into the router's own
share (receive, parse, plan, answer: a batch of the same size whose samples are all one task,
deduplicated to one verification) and the verifying, whose rate per child scales to the
deployment's children.

    python bench/bench_shutdown.py [--workers 2] [--rounds 2]

Writes ``bench/results/shutdown.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _harness import ROOT, machine, write
from workload import batch

from devtools.live import LiveServer, post_elsewhere
from reward_service.settings import Settings

SAMPLES = Settings.model_fields["max_samples"].default


def timed(url: str, body: Path, rounds: int) -> float:
    """Median seconds from sending ``body`` to having the whole answer."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            start = time.perf_counter()
            sender = post_elsewhere(f"{url}/reward", body, Path(tmp) / "answer", {})
            if sender.wait() != 0:
                raise RuntimeError(f"the request of {body.name} failed")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    samples = batch(random.Random(65536), args.samples, tasks=("math",))
    mean = sum(len(s["response"]) for s in samples) / len(samples)
    typical = min(samples, key=lambda s: abs(len(s["response"]) - mean))  # same body size
    same = [dict(typical, id=i) for i in range(args.samples)]  # one task: the router's share
    server = LiveServer.start(RAAS_POOL_WORKERS=str(args.workers))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bodies = {}
            for name, these in (("realistic", samples), ("one_task", same)):
                bodies[name] = Path(tmp) / name
                bodies[name].write_bytes(orjson.dumps({"samples": these}))
            sizes = {name: path.stat().st_size for name, path in bodies.items()}
            seconds = {name: timed(server.url, path, args.rounds) for name, path in bodies.items()}
    finally:
        server.stop()
    verifying = seconds["realistic"] - seconds["one_task"]
    per_child = args.samples / verifying / args.workers
    result: dict[str, Any] = {
        "machine": machine(),
        "samples": args.samples,
        "pool_children": args.workers,
        "body_mb": {name: round(size / 1e6, 1) for name, size in sizes.items()},
        "seconds": {name: round(s, 2) for name, s in seconds.items()},
        "router_share_s": round(seconds["one_task"], 2),
        "samples_per_s_per_child": round(per_child),
        "largest_batch_s_with_children": {
            str(children): round(seconds["one_task"] + SAMPLES / per_child / children, 1)
            for children in (2, 4, 8, 16)
        },
    }
    write(result, ROOT / "bench" / "results" / "shutdown.json")


if __name__ == "__main__":
    main()
