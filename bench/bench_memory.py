"""Router memory over thousands of long chain-of-thought batches, per topology, per code version.

Topologies, on 127.0.0.1 as in ``tests/test_topology.py``:
- ``remote``: ``raas serve`` in front of two ``raas worker rules`` (one pool child each), the
  topology ``k8s/base`` ships;
- ``embedded``: ``raas serve`` with its own pool (two children).

Traffic (``devtools.rss.drive``): trainers as threads, each with its own ``RewardClient``, sending
256-sample math batches in GRPO groups with log-normal chains of thought (``bench/workload.py``:
about 2 MB a body) one after another, every ``--big-every``-th batch with responses of about
45,000 characters (about 11.6 MB). The router's RSS is sampled every half second; reported per
run: RSS at the start, after the warm-up, at the batch counts the issue measured, at its peak and
at the end, and the least-squares growth after the warm-up in MiB per 1,000 batches. Results:
``bench/results/memory.json`` (runs merged by name) and ``memory.png``.

``--code REV`` runs the servers from revision ``REV``'s ``reward_service`` (``git archive`` into a
temporary folder, the servers started there; traffic and measurement stay this checkout's): the
"before" of a fix. A run past ``--stop-above-mib`` is stopped and says so (this machine is shared).

    python bench/bench_memory.py                                  # after: this checkout
    python bench/bench_memory.py --code 490316a --label before --topologies remote
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import ROOT, machine
from workload import batch, thinking

from devtools.live import LiveServer
from devtools.rss import MIB, Trace, drive
from reward_service.http.memory import rss

OUT = ROOT / "bench/results/memory.json"
BATCH = 256
WARM_UP = 100  # batches before growth is measured
MARKS = (240, 1200, 2000, 3000)  # the issue measured at 240 and 1,200
K8S_LIMIT_MIB = 2048  # k8s/base/router.yaml
BIG_CHARS = 45_000


def batches(seed: int) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Eight ~2 MB batches and two ~11.6 MB ones (the same long chains of thought, longer)."""
    rng = random.Random(seed)
    normal = [batch(rng, BATCH, ("math",)) for _ in range(8)]
    big = []
    for _ in range(2):
        samples = batch(rng, BATCH, ("math",))
        for sample in samples:
            answer = sample["response"][sample["response"].index("\n</think>") :]
            sample["response"] = f"<think>\n{thinking(rng, BIG_CHARS)}{answer}"
        big.append(samples)
    return normal, big


def schedule(
    normal: list[list[dict[str, Any]]], big: list[list[dict[str, Any]]], big_every: int
) -> list[list[dict[str, Any]]]:
    """One cycle of batches (``drive`` repeats it): a big one every ``big_every``-th."""
    if big_every <= 0:
        return normal
    cycle = [normal[i % len(normal)] for i in range(big_every * len(big))]
    for i, samples in enumerate(big):
        cycle[(i + 1) * big_every - 1] = samples
    return cycle


@contextlib.contextmanager
def code_of(revision: str | None) -> Iterator[Path]:
    """Where the servers start: this checkout, or a folder holding ``revision``'s package."""
    if revision is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="raas-code-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "reward_service"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def start(topology: str, where: Path) -> tuple[LiveServer, list[LiveServer]]:
    """``python -m`` puts the working folder first on ``sys.path``: the servers run ``where``'s
    ``reward_service`` (their pool children inherit it)."""
    with contextlib.chdir(where):
        if topology == "embedded":
            return LiveServer.start("serve", RAAS_POOL_WORKERS="2"), []
        workers = [LiveServer.start("worker", "rules", RAAS_POOL_WORKERS="1") for _ in range(2)]
        urls = ",".join(worker.url for worker in workers)
        return LiveServer.start("serve", RAAS_RULE_WORKERS=urls), workers


def served_from(router: LiveServer) -> str:
    """Which code answers: the memory ceiling's metrics exist only since the fix."""
    text = httpx.get(f"{router.url}/metrics", timeout=30).text
    return "with the fix" if "raas_memory_rss_bytes" in text else "without the fix"


def growth_per_1000(trace: Trace) -> float | None:
    """Least-squares slope of RSS over batches answered after the warm-up, MiB per 1,000."""
    points = [(done, mib) for _, done, mib in trace.points if done >= WARM_UP]
    if len(points) < 3 or points[-1][0] == points[0][0]:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return round(1000 * cov / var, 1)


def summary(trace: Trace, workers: list[tuple[float, float]]) -> dict[str, Any]:
    mibs = [mib for _, _, mib in trace.points]
    marks = {str(mark): round(trace.mib_after(mark), 1) for mark in MARKS if trace.answered >= mark}
    seconds = trace.points[-1][0]
    step = max(1, len(trace.points) // 400)
    return {
        "batches_answered": trace.answered,
        "failures": len(trace.failures),
        "first_failures": trace.failures[:3],
        "stopped": trace.stopped,
        "seconds": round(seconds, 1),
        "batches_per_s": round(trace.answered / seconds, 2),
        "router_rss_mib": {
            "start": round(mibs[0], 1),
            "after_warm_up": round(trace.mib_after(min(WARM_UP, trace.answered)), 1),
            "at_batches": marks,
            "peak": round(max(mibs), 1),
            "end": round(mibs[-1], 1),
        },
        "growth_mib_per_1000_batches": growth_per_1000(trace),
        "workers_rss_mib": [{"start": round(a, 1), "end": round(b, 1)} for a, b in workers],
        "series": [[done, round(mib, 1)] for _, done, mib in trace.points[::step]],
    }


def run(topology: str, revision: str | None, args: argparse.Namespace) -> dict[str, Any]:
    normal, big = batches(args.seed)
    cycle = schedule(normal, big, args.big_every)
    with code_of(revision) as where:
        router, workers = start(topology, where)
        try:
            code = served_from(router)
            before = [rss(w.process.pid) / MIB for w in workers]
            trace = drive(
                router.url,
                cycle,
                args.batches,
                trainers=args.trainers,
                pid=router.process.pid,
                stop_above_mib=args.stop_above_mib,
            )
            after = [rss(w.process.pid) / MIB for w in workers]
        finally:
            for server in (router, *workers):
                server.stop()
    return {
        "topology": topology,
        "code": revision or git_head(),
        "served": code,
        **summary(trace, list(zip(before, after, strict=True))),
    }


def git_head() -> str:
    head = ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
    return subprocess.run(head, check=True, capture_output=True, text=True).stdout.strip()


def body_mb(samples: list[dict[str, Any]]) -> float:
    return round(len(orjson.dumps({"samples": samples})) / 1e6, 2)


def compact(text: str) -> str:
    """A series point ``[batches, MiB]`` on one line."""
    return re.sub(r"\[\s+(-?[\d.]+),\s+(-?[\d.]+)\s+\]", r"[\1, \2]", text)


def plot(runs: dict[str, dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(9, 5))
    for name, result in sorted(runs.items()):
        done, mib = zip(*result["series"], strict=True)
        style = "--" if result["topology"] == "embedded" else "-"
        axis.plot(done, mib, style, label=f"{name} ({result['served']})")
    axis.axhline(K8S_LIMIT_MIB, color="red", lw=0.8)
    axis.text(0, K8S_LIMIT_MIB, " k8s limit 2 GiB", color="red", va="bottom", fontsize=8)
    ceiling = int(K8S_LIMIT_MIB * 0.8)
    axis.axhline(ceiling, color="grey", lw=0.8, ls=":")
    axis.text(
        0, ceiling, f" default ceiling there: {ceiling} MiB", color="grey", va="bottom", fontsize=8
    )
    axis.set_xlabel("batches answered (256 long-CoT samples each)")
    axis.set_ylabel("router RSS (MiB)")
    axis.set_title("router memory: 4 trainers, remote rule workers vs the embedded pool")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--trainers", type=int, default=4)
    parser.add_argument("--big-every", type=int, default=20, help="0: no ~11.6 MB batches")
    parser.add_argument("--topologies", default="remote,embedded")
    parser.add_argument("--code", help="a git revision to run the servers from (the 'before')")
    parser.add_argument("--label", default="after", help="the runs' names: <topology>, <label>")
    parser.add_argument("--stop-above-mib", type=float, default=6144)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs: dict[str, dict[str, Any]] = previous.get("runs", {})
    for topology in args.topologies.split(","):
        started = time.strftime("%Y-%m-%d %H:%M")
        result = run(topology, args.code, args)
        runs[f"{topology}, {args.label}"] = result | {"run_at": started}
        print(f"{topology}, {args.label}:", {k: v for k, v in result.items() if k != "series"})
    normal, big = batches(args.seed)
    result = {
        "benchmark": "router RSS over long chain-of-thought batches",
        "machine": machine(),
        "batch_samples": BATCH,
        "body_mb": {"normal": [body_mb(b) for b in normal], "big": [body_mb(b) for b in big]},
        "big_every": args.big_every,
        "trainers": args.trainers,
        "warm_up_batches": WARM_UP,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(compact(json.dumps(result, indent=2)) + "\n")
    plot(runs, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
