"""Soak: concurrent trainers for a bounded time while pool children and a remote worker die.

Topology on 127.0.0.1, as deployed: a router (``raas serve``, API key, internal token) in front
of two rule workers (``raas worker rules``). Client threads send GRPO-like math batches with an
``Idempotency-Key`` each; a share of batches is sent twice at once (a duplicate delivery) and any
failed attempt is retried with the same key. A chaos thread SIGKILLs a random pool child of a
random worker every 1–3 s, and the second remote worker every ~15 s (restarted on its port).

Checked at the end:
- every sample got exactly one result, with its own id, in order, and every ``ok`` reward is the
  expected one (right answers 1, wrong ones 0);
- the router counted each sample once (``raas_samples_total`` = unique samples sent): retries
  and duplicates with the same key were answered from memory, never scored twice;
- memory: RSS of the router and of a worker (its pool children included) sampled every 2 s, and
  the slope of a least-squares line through them (MB per minute) reported.

    python bench/bench_soak.py --seconds 60 --clients 4
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from _harness import ROOT, machine, write

from devtools.live import LiveServer, children_of, is_alive

KEY, TOKEN = "soak-api-key-0123456789", "soak-internal-token-0123456789"
AUTH = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
OUT = ROOT / "bench/results/soak.json"
RETRYABLE = {429, 502, 503, 504}


def batch(client: int, number: int, size: int) -> tuple[list[dict[str, Any]], list[float]]:
    """GRPO groups of 8 on one ground truth; every third answer wrong."""
    samples, expected = [], []
    for i in range(size):
        truth = (client * 7919 + number * 31 + i // 8) % 1000
        right = i % 3 != 2
        answer = truth if right else truth + 1
        samples.append(
            {
                "id": f"c{client}-b{number}-s{i}",
                "data_source": f"soak-{i % 4}",
                "response": f"<think>adding</think> the answer is \\boxed{{{answer}}}",
                "ground_truth": str(truth),
                "verifier": "math",
            }
        )
        expected.append(1.0 if right else 0.0)
    return samples, expected


class Ledger:
    """What the clients saw, shared by their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, int] = Counter()  # sample id → results accepted for it
        self.statuses: Counter[str] = Counter()
        self.wrong_rewards = 0
        self.samples_sent = 0
        self.batches = 0
        self.attempts = 0
        self.retries = 0
        self.replayed = 0
        self.lost = 0
        self.duplicates_sent = 0
        self.duplicates_identical = 0
        self.latencies: list[float] = []
        self.failures: list[str] = []


def lose_answer(http: httpx.Client, body: bytes, key: str, ledger: Ledger) -> None:
    """Send the batch and hang up before the answer (a trainer's timeout or a dropped link)."""
    with ledger.lock:
        ledger.attempts += 1
        ledger.lost += 1
    headers = {**AUTH, "idempotency-key": key}
    with contextlib.suppress(httpx.TimeoutException, httpx.TransportError):
        http.post("/reward", content=body, headers=headers, timeout=httpx.Timeout(5, read=0.001))


def post(
    http: httpx.Client, body: bytes, key: str, ledger: Ledger, retry: bool = False
) -> httpx.Response:
    """One batch until it is answered, every attempt with the same key."""
    for attempt in range(30):
        with ledger.lock:
            ledger.attempts += 1
            ledger.retries += attempt > 0 or retry
        try:
            response = http.post("/reward", content=body, headers={**AUTH, "idempotency-key": key})
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code not in RETRYABLE:
            return response
        time.sleep(min(2.0, float(response.headers.get("retry-after", "0.2") or 0.2)))
    raise RuntimeError("a batch was never answered")


def _post_into(
    into: list[httpx.Response], http: httpx.Client, body: bytes, key: str, ledger: Ledger
) -> None:
    into.append(post(http, body, key, ledger))


def check(
    samples: list[dict[str, Any]], expected: list[float], answer: Any, ledger: Ledger
) -> None:
    results = answer["results"]
    with ledger.lock:
        if [r["id"] for r in results] != [s["id"] for s in samples]:
            ledger.failures.append("results out of order or missing")
            return
        for result, want in zip(results, expected, strict=True):
            ledger.results[result["id"]] += 1
            ledger.statuses[result["status"]] += 1
            if result["status"] == "ok" and result["reward"] != want:
                ledger.wrong_rewards += 1


def client_loop(
    index: int, until: float, size: int, shares: tuple[float, float], url: str, ledger: Ledger
) -> None:
    dup_share, lost_share = shares
    rng = random.Random(index)
    with httpx.Client(base_url=url, timeout=120) as http:
        number = 0
        while time.monotonic() < until:
            samples, expected = batch(index, number, size)
            body, key = orjson.dumps({"samples": samples}), uuid.uuid4().hex
            start = time.perf_counter()
            twin: list[httpx.Response] = []
            duplicate = rng.random() < dup_share
            if duplicate:  # the same delivery twice, at once
                thread = threading.Thread(target=_post_into, args=(twin, http, body, key, ledger))
                thread.start()
            lost = rng.random() < lost_share
            if lost:
                lose_answer(http, body, key, ledger)
            response = post(http, body, key, ledger, retry=lost)
            if duplicate:
                thread.join()
            with ledger.lock:
                ledger.latencies.append(time.perf_counter() - start)
                ledger.batches += 1
                ledger.samples_sent += len(samples)
                ledger.replayed += response.headers.get("idempotent-replayed") == "true"
                if duplicate:
                    ledger.duplicates_sent += 1
                    ledger.replayed += twin[0].headers.get("idempotent-replayed") == "true"
                    ledger.duplicates_identical += twin[0].content == response.content
            if response.status_code != 200:
                with ledger.lock:
                    ledger.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            check(samples, expected, response.json(), ledger)
            number += 1


class Chaos:
    """Kills pool children and, now and then, a whole worker (brought back on its port)."""

    def __init__(self, workers: list[LiveServer], env: dict[str, str], seed: int) -> None:
        self.workers, self.env, self.rng = workers, env, random.Random(seed)
        self.children_killed = 0
        self.workers_killed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        next_worker_kill = time.monotonic() + 15
        while not self.stop.wait(self.rng.uniform(1.0, 3.0)):
            if time.monotonic() >= next_worker_kill:
                self.kill_worker(1)  # worker 0 lives on: its memory is the one watched
                next_worker_kill = time.monotonic() + 15
            else:
                self.kill_child()

    def kill_child(self) -> None:
        """A running child dies while its warm spare is up (a child dying while the last one
        restarts is a worker down, which the worker kill covers)."""
        worker = self.rng.choice(self.workers)
        children = [p for p in children_of(worker.process.pid) if is_alive(p) and is_pool(p)]
        if len(children) >= 2:
            signal_pid(self.rng.choice(children))
            self.children_killed += 1

    def kill_worker(self, index: int) -> None:
        old = self.workers[index]
        old.process.kill()
        old.process.wait()
        self.workers_killed += 1
        time.sleep(2.0)  # the router notices, ejects it and serves from the other
        self.workers[index] = LiveServer.start("worker", "rules", port=old.port, **self.env)


def is_pool(pid: int) -> bool:
    """A pool child, not multiprocessing's resource tracker (also a child of the worker)."""
    try:
        return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def signal_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of ``pid`` (and its children), in MB."""
    total = 0
    for p in [pid, *(children_of(pid) if children else [])]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1024


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per minute."""
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mx) * (y - my) for x, y in points)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * num / den if den else 0.0


def rss_summary(points: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "first": round(points[0][1], 1),
        "last": round(points[-1][1], 1),
        "slope_mb_per_min": round(slope_per_minute(points), 2),
        "slope_second_half_mb_per_min": round(slope_per_minute(points[len(points) // 2 :]), 2),
    }


def router_samples_counted(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("raas_samples_total{")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--duplicates", type=float, default=0.2, help="share sent twice at once")
    parser.add_argument("--lost", type=float, default=0.1, help="share whose answer is lost")
    args = parser.parse_args()

    worker_env = {
        "RAAS_INTERNAL_TOKEN": TOKEN,
        "RAAS_POOL_WORKERS": "1",
        "RAAS_POOL_SPARES": "1",
        "RAAS_SAMPLE_TIMEOUT_S": "5",
    }
    workers = [LiveServer.start("worker", "rules", **worker_env) for _ in range(2)]
    router = LiveServer.start(
        RAAS_API_KEYS=KEY,
        RAAS_INTERNAL_TOKEN=TOKEN,
        RAAS_RULE_WORKERS=",".join(w.url for w in workers),
        RAAS_REMOTE_ATTEMPTS="6",
    )
    ledger, chaos = Ledger(), Chaos(workers, worker_env, seed=11)
    memory: dict[str, list[tuple[float, float]]] = {
        "router": [],
        "worker_process": [],
        "worker_with_children": [],
    }
    start = time.monotonic()
    until = start + args.seconds
    clients = [
        threading.Thread(
            target=client_loop,
            args=(i, until, args.batch, (args.duplicates, args.lost), router.url, ledger),
        )
        for i in range(args.clients)
    ]
    chaos_thread = threading.Thread(target=chaos.run)
    try:
        for thread in [*clients, chaos_thread]:
            thread.start()
        while any(t.is_alive() for t in clients):
            now = time.monotonic() - start
            memory["router"].append((now, rss_mb(router.process.pid)))
            worker = chaos.workers[0].process.pid
            memory["worker_process"].append((now, rss_mb(worker, children=False)))
            memory["worker_with_children"].append((now, rss_mb(worker)))
            time.sleep(2.0)
        chaos.stop.set()
        chaos_thread.join()
        counted = router_samples_counted(router.url)
    finally:
        chaos.stop.set()
        router.stop()
        for worker in chaos.workers:
            worker.stop()

    once = sum(1 for n in ledger.results.values() if n == 1)
    result = {
        "machine": machine(),
        "config": {
            "seconds": args.seconds,
            "clients": args.clients,
            "batch": args.batch,
            "duplicate_share": args.duplicates,
            "lost_share": args.lost,
            "rule_workers": 2,
            "pool_children_per_worker": 1,
        },
        "batches": ledger.batches,
        "samples_sent": ledger.samples_sent,
        "samples_with_exactly_one_result": once,
        "samples_with_more_or_none": ledger.samples_sent - once,
        "statuses": dict(ledger.statuses),
        "ok_rewards_wrong": ledger.wrong_rewards,
        "router_samples_counted": counted,
        "scored_twice": counted - ledger.samples_sent,
        "http_attempts": ledger.attempts,
        "client_retries": ledger.retries,
        "answers_lost_then_retried": ledger.lost,
        "duplicate_deliveries": ledger.duplicates_sent,
        "duplicate_answers_identical": ledger.duplicates_identical,
        "answers_replayed": ledger.replayed,
        "failures": ledger.failures[:10],
        "pool_children_killed": chaos.children_killed,
        "workers_killed": chaos.workers_killed,
        "latency_s": {
            "p50": round(statistics.median(ledger.latencies), 3),
            "p99": round(sorted(ledger.latencies)[int(0.99 * (len(ledger.latencies) - 1))], 3),
        },
        "rss_mb": {name: rss_summary(points) for name, points in memory.items() if points},
    }
    write(result, OUT)


if __name__ == "__main__":
    main()
