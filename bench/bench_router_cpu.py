"""CPU per sample in the router and in the pool, and the throughput it allows on bigger nodes.

A real ``raas serve`` (one router process, ``--pool`` children) is sent batches of 4,096
samples one after another by this process (whose own CPU is not counted). Per scenario the
router's CPU (user + system, from ``/proc``) and its pool children's are read before and after,
divided by the samples sent:

- ``choice`` and ``iou``: cheap verifiers with short responses — the router's per-sample work
  (decoding, validation, keys, splitting, summaries, encoding) dominates;
- ``math_cot``: ``math`` on long chains of thought (``bench/workload.py``: median 6 kB) — the
  verifier dominates;
- ``mixed_cot``: the same chains of thought over math, choice, chart, counting, detection and
  grounding (``bench_traffic.py``'s mixed traffic).

Every sample is distinct (no deduplication). ``loop_us_per_sample`` is the same samples' CPU
through ``run_task`` in a plain loop here; ``cpu_efficiency`` = loop / (router + pool): the share
of a saturated node's CPU that goes to verifying, i.e. the throughput ratio over the loop × cores
a node reaches once its cores are busy (this process's own CPU, a trainer's, left out).

The projection: one router process serves at most 1 / router-CPU samples a second whatever the
pool; the pool serves (cores − routers) / child-CPU; a node's throughput is the smaller of the
two — shown for 2 (this machine), 16, 64 and 192 cores with one router process and with the
best number of them (``RAAS_ROUTERS``), against the ideal of every core doing both shares
(cores / (router + child)). The same command runs unchanged on a bigger machine (``--pool`` =
its cores − 1).

    python bench/bench_router_cpu.py [--batches 6] [--pool 1]

Results: ``bench/results/router_cpu.json``."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import ROOT, as_task, cpu_seconds, machine, write
from workload import TASKS
from workload import batch as cot_batch

from devtools.live import LiveServer, children_of
from reward_service.contract.registry import Context
from reward_service.pool.execute import run_task

BATCH = 4096
CORES = (2, 16, 64, 192)


def choice_batch(offset: int) -> list[dict[str, Any]]:
    return [
        {
            "verifier": "choice",
            "ground_truth": "ABCD"[i % 4],
            "response": f"Comparing the options, ({'ABCD'[(i // 4) % 4]}) fits best. #{offset + i}",
        }
        for i in range(BATCH)
    ]


def iou_batch(offset: int) -> list[dict[str, Any]]:
    out = []
    for i in range(BATCH):
        x, y = (offset + i) % 900, (offset + 7 * i) % 900
        out.append(
            {
                "verifier": "iou",
                "ground_truth": [x, y, x + 80, y + 60],
                "response": (
                    f"The object is at \\boxed{{[{x + i % 9}, {y}, {x + 84}, {y + 61}]}}. #{i}"
                ),
            }
        )
    return out


def cot_math_batch(offset: int) -> list[dict[str, Any]]:
    return cot_batch(random.Random(offset), BATCH // 4, ("math",))


def cot_mixed_batch(offset: int) -> list[dict[str, Any]]:
    return cot_batch(random.Random(offset), BATCH // 4, TASKS)


SCENARIOS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "choice": choice_batch,
    "iou": iou_batch,
    "math_cot": cot_math_batch,
    "mixed_cot": cot_mixed_batch,
}


def loop_us(samples: list[dict[str, Any]]) -> float:
    """CPU per sample of the same samples through ``run_task`` in a plain loop here (the
    verifier's own cost, ground-truth cache included): the work a node cannot avoid."""
    tasks = [as_task(sample, Context()) for sample in samples]
    for task in tasks[:64]:
        run_task(task)
    start = time.process_time()
    for task in tasks:
        run_task(task)
    return (time.process_time() - start) / len(tasks) * 1e6


def measure(
    server: LiveServer, make: Callable[[int], list[dict[str, Any]]], batches: int
) -> dict[str, float]:
    made = [make(k * BATCH) for k in range(batches + 1)]
    bodies = [orjson.dumps({"samples": samples}) for samples in made]
    with httpx.Client(base_url=server.url, timeout=600) as client:
        client.post("/reward", content=bodies[0]).raise_for_status()  # warm-up
        pid = server.process.pid
        pool = children_of(pid)
        router0, pool0, wall0 = cpu_seconds(pid), sum(map(cpu_seconds, pool)), time.perf_counter()
        for body in bodies[1:]:
            answer = client.post("/reward", content=body)
            answer.raise_for_status()
        wall = time.perf_counter() - wall0
        router = cpu_seconds(pid) - router0
        children = sum(map(cpu_seconds, pool)) - pool0
    samples = sum(map(len, made[1:]))
    router_us, pool_us = router / samples * 1e6, children / samples * 1e6
    verifier_us = loop_us(made[1])
    return {
        "samples": samples,
        "router_us_per_sample": round(router_us, 2),
        "pool_us_per_sample": round(pool_us, 2),
        "loop_us_per_sample": round(verifier_us, 2),
        "cpu_efficiency": round(verifier_us / (router_us + pool_us), 3),
        "wall_samples_per_s": round(samples / wall),
    }


def node_rate(routers: int, cores: int, router_us: float, pool_us: float) -> float:
    """Samples/s of a node whose ``routers`` processes each hold a core and whose pool children
    share the rest: the smaller of what the routers decode and what the pool scores."""
    return min(routers * 1e6 / router_us, (cores - routers) * 1e6 / pool_us)


def project(router_us: float, pool_us: float) -> dict[str, dict[str, float]]:
    """Samples/s per node size: one router process; the best number of router processes
    (``RAAS_ROUTERS``); every core doing both shares (the ideal)."""
    out = {}
    for cores in CORES:
        ideal = cores * 1e6 / (router_us + pool_us)
        one = node_rate(1, cores, router_us, pool_us)
        best = max(range(1, cores), key=lambda r: node_rate(r, cores, router_us, pool_us))
        several = node_rate(best, cores, router_us, pool_us)
        out[str(cores)] = {
            "one_router": round(one),
            "routers": best,
            "several_routers": round(several),
            "ideal": round(ideal),
            "one_router_share_of_ideal": round(one / ideal, 3),
            "several_routers_share_of_ideal": round(several / ideal, 3),
        }
    return out


def plot(results: dict[str, Any], before: dict[str, Any], out: Path) -> None:
    """Per scenario: samples/s against cores (log-log) — one router process before and after
    this work's cuts, the best number of router processes after, the ideal; the measured point
    (this machine) as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        now = results[name]["projection"]
        lines = {"several routers (RAAS_ROUTERS)": (now, "several_routers", "tab:green")}
        lines["one router"] = (now, "one_router", "tab:blue")
        if name in before:
            was = project(before[name]["router_us_per_sample"], before[name]["pool_us_per_sample"])
            lines["one router, before"] = (was, "one_router", "tab:gray")
        lines["ideal (every core both)"] = (now, "ideal", "black")
        for label, (table, key, color) in lines.items():
            style = ":" if key == "ideal" else "-"
            axis.plot(CORES, [table[str(c)][key] for c in CORES], style, color=color, label=label)
        axis.scatter(
            [2],
            [results[name]["wall_samples_per_s"]],
            color="tab:red",
            zorder=3,
            label="measured here (2 cores, one client)",
        )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(CORES, [str(c) for c in CORES])
        axis.set_xlabel("cores")
        axis.set_title(f"{name}: router {results[name]['router_us_per_sample']:.1f} µs/sample")
    axes[0][0].set_ylabel("samples / s")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=6, help="measured batches per scenario")
    parser.add_argument("--pool", type=int, default=1, help="pool children (RAAS_POOL_WORKERS)")
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/router_cpu.json")
    parser.add_argument(
        "--before",
        type=Path,
        default=ROOT / "bench/results/router_cpu_before.json",
        help="an earlier run to draw beside this one (the router before issue 24's cuts)",
    )
    args = parser.parse_args()
    results = {}
    for name in args.scenarios:
        server = LiveServer.start(RAAS_POOL_WORKERS=str(args.pool))
        try:
            measured = measure(server, SCENARIOS[name], args.batches)
        finally:
            server.stop()
        measured["projection"] = project(  # type: ignore[assignment]
            measured["router_us_per_sample"], measured["pool_us_per_sample"]
        )
        results[name] = measured
        print(name, {k: v for k, v in measured.items() if k != "projection"})
    write(
        {
            "benchmark": "router and pool CPU per sample; throughput projected against cores",
            "machine": machine(),
            "setup": {"batch": BATCH, "batches": args.batches, "pool_workers": args.pool},
            "scenarios": results,
        },
        args.out,
    )
    before = orjson.loads(args.before.read_bytes())["scenarios"] if args.before.exists() else {}
    plot(results, before, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
