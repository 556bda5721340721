"""Realistic RL traffic through a real ``raas serve``: long chains of thought, GRPO groups, mixed
tasks, several trainers at once, and a small request behind one full of hanging samples.

Scenarios (``bench/workload.py`` makes the samples):
- ``math``: math only, long responses; 1 and 4 trainers.
- ``mixed``: math / choice / chart / counting / detection / grounding in groups of 8; 1, 4 and 16
  trainers, each sending ``--batches`` batches of 512 samples one after another.
- ``bombs``: one request of 16 power towers (each killed at the deadline) and, once the pool is
  busy with them, another trainer's 8-sample request: its latency against one deadline.

Reported per scenario: samples/s against the in-process loop of the same samples × cores, p50 and
p99 request latency, pool children that died by themselves (``crash`` restarts), and the router's
RSS before and after. The trainers' HTTP clients run in this process, on the same cores as the
server (a trainer node's work in production): the CPU per sample of this process, the router and
the pool children is reported, and ``ratio_over_loop_x_server_cores`` is the ratio over the
cores the clients left to the server (``cores − client_cores``). Results:
``bench/results/traffic.json`` and ``traffic.png``.

    python bench/bench_traffic.py [--batches 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import ROOT, as_task, cpu_seconds, machine, write
from prometheus_client.parser import text_string_to_metric_families
from workload import TASKS, batch

from devtools.live import LiveServer, children_of
from reward_service.contract.registry import Context
from reward_service.pool.execute import run_task
from reward_service.settings import Settings

BATCH = 512
DEADLINE_S = 5.0
JSON = {"content-type": "application/json"}


def loop_rate(samples: list[dict[str, Any]], rounds: int = 3) -> float:
    """Samples/s of the same samples through ``run_task`` in a plain loop on one core: the
    median of ``rounds`` (one round varied by ±15 % from run to run on this machine, and the
    ratio with it)."""
    tasks = [as_task(s, Context()) for s in samples]
    for task in tasks[:64]:
        run_task(task)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for task in tasks:
            run_task(task)
        rates.append(len(tasks) / (time.perf_counter() - start))
    return statistics.median(rates)


def metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of this process (the trainers' HTTP clients), the router and its pool
    children (those alive at both reads: a child restarted mid-run is not counted)."""

    client: float
    router: float
    children: dict[int, float]

    @classmethod
    def read(cls, router: int) -> Cpu:
        children = {pid: cpu_seconds(pid) for pid in children_of(router)}
        return cls(time.process_time(), cpu_seconds(router), children)

    def __sub__(self, before: Cpu) -> Used:
        pool = sum(v - before.children[p] for p, v in self.children.items() if p in before.children)
        return Used(self.client - before.client, self.router - before.router, pool)


@dataclass(frozen=True)
class Used:
    client: float
    router: float
    pool: float


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def trainer(client: httpx.AsyncClient, batches: list[bytes], latencies: list[float]) -> int:
    scored = 0
    for body in batches:
        start = time.perf_counter()
        response = await client.post("/reward", content=body, headers=JSON)
        latencies.append(time.perf_counter() - start)
        response.raise_for_status()
        results = orjson.loads(response.content)["results"]
        scored += sum(r["status"] == "ok" for r in results)
    return scored


async def drive(url: str, bodies: list[list[bytes]]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        start = time.perf_counter()
        scored = await asyncio.gather(*(trainer(client, b, latencies) for b in bodies))
        return time.perf_counter() - start, latencies, sum(scored)


def scenario(
    server: LiveServer,
    name: str,
    tasks: tuple[str, ...],
    trainers: int,
    batches: int,
    loop: float,
    cores: int,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    samples = [[batch(rng, BATCH, tasks) for _ in range(batches)] for _ in range(trainers)]
    bodies = [[orjson.dumps({"samples": b}) for b in per] for per in samples]
    crashes = metric(server.url, "raas_pool_restarts_total", reason="crash")
    pid = server.process.pid
    rss_before = rss_mb(pid)
    cpu = Cpu.read(pid)
    wall, latencies, scored = asyncio.run(drive(server.url, bodies))
    used = Cpu.read(pid) - cpu
    total = trainers * batches * BATCH
    rate = total / wall
    latencies.sort()
    client_cores = used.client / wall
    return {
        "scenario": name,
        "trainers": trainers,
        "samples": total,
        "ok": scored,
        "samples_per_s": round(rate, 1),
        "loop_samples_per_s": round(loop, 1),
        "ratio_over_loop_x_cores": round(rate / (loop * cores), 3),
        "client_us_per_sample": round(used.client / total * 1e6, 1),
        "router_us_per_sample": round(used.router / total * 1e6, 1),
        "pool_us_per_sample": round(used.pool / total * 1e6, 1),
        "client_cores": round(client_cores, 2),
        "ratio_over_loop_x_server_cores": round(rate / (loop * (cores - client_cores)), 3),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3),
        "crash_restarts": metric(server.url, "raas_pool_restarts_total", reason="crash") - crashes,
        "router_rss_mb_before": round(rss_before),
        "router_rss_mb_after": round(rss_mb(pid)),
    }


def bombs(server: LiveServer) -> dict[str, Any]:
    towers = [
        {
            "verifier": "math",
            "response": f"\\boxed{{10^{{10^{{10^{{{10 + i}}}}}}}}}",
            "ground_truth": "1",
        }
        for i in range(16)
    ]
    small = [{"verifier": "math", "response": "\\boxed{4}", "ground_truth": "4"}] * 8

    async def run() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=server.url, timeout=600) as client:
            heavy_start = time.perf_counter()
            heavy = asyncio.ensure_future(client.post("/reward", json={"samples": towers}))
            while metric(server.url, "raas_pool_busy") < 2:
                await asyncio.sleep(0.02)
            start = time.perf_counter()
            (await client.post("/reward", json={"samples": small})).raise_for_status()
            small_s = time.perf_counter() - start
            await heavy
            return small_s, time.perf_counter() - heavy_start

    small_s, heavy_s = asyncio.run(run())
    return {
        "scenario": "bombs",
        "deadline_s": DEADLINE_S,
        "small_request_s": round(small_s, 2),
        "target_s": DEADLINE_S + 2,
        "bomb_request_s": round(heavy_s, 2),
    }


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in rows if "samples_per_s" in r]
    labels = [f"{r['scenario']}\n{r['trainers']} trainer(s)" for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.bar(labels, [r["samples_per_s"] for r in runs], color="tab:blue", label="raas serve")
    left.scatter(
        labels,
        [r["loop_samples_per_s"] * r["cores"] for r in runs],
        color="black",
        marker="_",
        s=900,
        label="in-process loop × cores",
    )
    left.set_ylabel("samples / s")
    left.legend()
    left.set_title("throughput (512-sample batches, long CoT)")
    right.bar(labels, [r["latency_p99_s"] for r in runs], color="tab:orange", label="p99")
    right.bar(labels, [r["latency_p50_s"] for r in runs], color="tab:green", label="p50")
    right.set_ylabel("seconds per 512-sample request")
    right.legend()
    right.set_title("request latency")
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 batch, no 16-trainer run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/traffic.json")
    args = parser.parse_args()
    batches = 1 if args.quick else args.batches
    cores = Settings().pool_workers
    rng = random.Random(99)
    loops = {
        "math": loop_rate(batch(rng, 2048, ("math",))),
        "mixed": loop_rate(batch(rng, 2048, TASKS)),
    }
    plan = [
        ("math", ("math",), 1),
        ("math", ("math",), 4),
        ("mixed", TASKS, 1),
        ("mixed", TASKS, 4),
        ("mixed", TASKS, 16),
    ]
    if args.quick:
        plan = plan[:4]
    server = LiveServer.start(
        RAAS_POOL_WORKERS=str(cores), RAAS_POOL_SPARES="1", RAAS_SAMPLE_TIMEOUT_S=str(DEADLINE_S)
    )
    rows: list[dict[str, Any]] = []
    try:
        httpx.post(f"{server.url}/reward", json={"samples": batch(rng, 64)}, timeout=120)  # warm
        for seed, (name, tasks, trainers) in enumerate(plan):
            row = scenario(server, name, tasks, trainers, batches, loops[name], cores, seed)
            rows.append(row | {"cores": cores})
            print(row)
        rows.append(bombs(server))
        print(rows[-1])
    finally:
        server.stop()
    write(
        {
            "benchmark": "realistic RL traffic through raas serve",
            "batch": BATCH,
            "batches_per_trainer": batches,
            "cores": cores,
            "machine": machine(),
            "rows": rows,
        },
        args.out,
    )
    plot(rows, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
