"""Throughput of cheap samples with one router process against several (``RAAS_ROUTERS``), at
the same total pool.

A real ``raas serve --routers N`` with ``--pool`` children in all is sent 512-sample pieces of
distinct ``choice`` (or ``iou``) samples by ``--clients`` concurrent clients, each on its own
connections and each piece with its own ``Idempotency-Key``, as ``trainer_client``'s
``RewardClient`` sends them (so a piece is scored by the router that owns its key, whichever
router its connection reached). Per configuration: samples/s over ``--seconds`` after a warm-up,
and the CPU (user + system, ``/proc``) of the routers and of their pool children per sample.
Configurations alternate round by round, so a noisy machine slows each alike. The clients run in
this process (pre-encoded bodies; answers are read, not decoded) and take CPU from the server on
a small machine. The same command runs unchanged on a bigger one:

    python bench/bench_routers.py [--routers 1 2] [--pool 2] [--clients 4] [--seconds 10]

Results: ``bench/results/routers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import ROOT, machine, write
from bench_router_cpu import choice_batch, cpu_seconds, iou_batch

from devtools.live import LiveServer, children_of

PIECE = 512
MAKERS = {"choice": choice_batch, "iou": iou_batch}


def processes(server: LiveServer, routers: int) -> tuple[list[int], list[int]]:
    """The router pids (the server itself when it is the one router) and their pool children."""
    top = server.process.pid
    routers_pids = children_of(top) if routers > 1 else [top]
    pool = [
        child
        for pid in routers_pids
        for child in children_of(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    return routers_pids, pool


async def client(url: str, bodies: list[bytes], until: float, counts: dict[str, int]) -> None:
    """Send pieces back to back until ``until``; count the samples and who scored them."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        k = 0
        while time.monotonic() < until:
            key = {"Idempotency-Key": str(uuid.uuid4())}
            answer = await http.post("/reward", content=bodies[k % len(bodies)], headers=key)
            answer.raise_for_status()
            counts["samples"] += PIECE
            router = f"router_{answer.headers.get('raas-router', '0')}"
            counts[router] = counts.get(router, 0) + 1
            k += 1


async def drive(url: str, bodies: list[list[bytes]], seconds: float) -> dict[str, int]:
    counts = {"samples": 0}
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(url, mine, until, counts) for mine in bodies))
    return counts


def measure(routers: int, pool: int, clients: int, seconds: float, verifier: str) -> dict[str, Any]:
    make = MAKERS[verifier]
    bodies = [
        [
            orjson.dumps({"samples": make((c * 8 + b) * 4096)[i : i + PIECE]})
            for b in range(2)
            for i in range(0, 4096, PIECE)
        ]
        for c in range(clients)
    ]
    server = LiveServer.start(
        RAAS_ROUTERS=str(routers), RAAS_POOL_WORKERS=str(pool), RAAS_POOL_SPARES="0"
    )
    try:
        asyncio.run(drive(server.url, bodies, 2.0))  # warm-up: every router, every child
        routers_pids, pool_pids = processes(server, routers)
        router0 = sum(map(cpu_seconds, routers_pids))
        pool0 = sum(map(cpu_seconds, pool_pids))
        wall0 = time.perf_counter()
        counts = asyncio.run(drive(server.url, bodies, seconds))
        wall = time.perf_counter() - wall0
        router_cpu = sum(map(cpu_seconds, routers_pids)) - router0
        pool_cpu = sum(map(cpu_seconds, pool_pids)) - pool0
    finally:
        server.stop()
    samples = counts.pop("samples")
    return {
        "samples_per_s": round(samples / wall),
        "router_us_per_sample": round(router_cpu / samples * 1e6, 2),
        "pool_us_per_sample": round(pool_cpu / samples * 1e6, 2),
        "pieces_scored_by": dict(sorted(counts.items())),
        "pool_children": len(pool_pids),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pool", type=int, default=2, help="pool children in all")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verifier", choices=list(MAKERS), default="choice")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/routers.json")
    args = parser.parse_args()
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in args.routers}
    for r in range(args.rounds):
        for n in args.routers:
            result = measure(n, args.pool, args.clients, args.seconds, args.verifier)
            rounds[n].append(result)
            print(f"round {r}, routers={n}: {result}", flush=True)
    summary = {
        str(n): {
            "samples_per_s_median": statistics.median(x["samples_per_s"] for x in found),
            "router_us_per_sample_median": statistics.median(
                x["router_us_per_sample"] for x in found
            ),
            "pool_us_per_sample_median": statistics.median(x["pool_us_per_sample"] for x in found),
            "rounds": found,
        }
        for n, found in rounds.items()
    }
    base = summary[str(args.routers[0])]["samples_per_s_median"]
    for n in args.routers:
        summary[str(n)]["vs_first"] = round(summary[str(n)]["samples_per_s_median"] / base, 3)
    setup = {
        "verifier": args.verifier,
        "piece": PIECE,
        "clients": args.clients,
        "pool_workers": args.pool,
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    benchmark = "samples/s of cheap samples, one router process against several"
    found = {"benchmark": benchmark, "machine": machine(), "setup": setup, "routers": summary}
    write(found, args.out)


if __name__ == "__main__":
    main()
