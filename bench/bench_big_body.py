"""Big ``/reward`` bodies: how long the router's event loop stops while it reads and parses one.

In process (uvloop and the router's garbage-collector policy; a task that wakes every
millisecond records the longest gap): a body of 6 KB chains of thought parsed in one
``model_validate_json`` call and in pieces (``reward_service.http.parsing``), at 32 MB, 256 MB and
760 MB (the default ``RAAS_MAX_BODY_BYTES`` is 768 MiB), and a 256 MB body collected from its
chunks by one join or a growing buffer. Then through a real ``raas serve``: the slowest
``/healthz`` answer while a body is sent (from another process) and scored: 256 MB of 6 KB
chains, without and with an ``Idempotency-Key`` (the body is hashed); ``tests/test_traffic.py``'s
body (33,000 chains beside one response of 10 MB); and 6 KB chains beside one response of
100 MB, which is one piece (a sample is never cut, so the largest sample bounds the stall).

    python bench/bench_big_body.py [--rounds 3]

Writes ``bench/results/big_body.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
from _harness import ROOT, machine, write

from devtools.live import LiveServer, post_elsewhere
from reward_service.gc_policy import tune_gc
from reward_service.http.parsing import parse_in_pieces, parse_request

MB = 1_000_000
WORDS = ["so", "the", "total", "is", "then", "we", "get", "wait", "\\frac{1}{2}", "value"]


def chain(rng: random.Random, chars: int, right: bool) -> dict[str, Any]:
    words = " ".join(rng.choices(WORDS, k=chars // 4))[:chars]
    letter = "B" if right else "C"
    response = f"<think>\n{words}\n</think>\n<answer>({letter})</answer>"
    return {"verifier": "choice", "response": response, "ground_truth": "B"}


def body(size: int, giant: int = 0) -> bytes:
    rng = random.Random(size)
    variants = [chain(rng, 6_000, k % 2 == 0) for k in range(64)]
    n = (size - giant) // 6_100
    samples = [variants[i % 64] for i in range(n)]
    if giant:
        samples.append(chain(rng, giant, True))
    return orjson.dumps({"samples": samples, "step": 1, "total_steps": 100})


async def longest_gap(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(seconds ``work`` took, the longest the loop went without a turn meanwhile)."""
    gaps: list[float] = []
    done = False

    async def tick() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    await work()
    took = time.perf_counter() - start
    done = True
    await ticker
    return took, max(gaps)


def in_process(raw: bytes, rounds: int) -> dict[str, Any]:
    async def whole() -> object:
        return parse_request(raw)

    async def pieces() -> object:
        return await parse_in_pieces(raw)

    row: dict[str, Any] = {"body_mb": round(len(raw) / MB)}
    for name, work in (("whole", whole), ("pieces", pieces)):
        runs = [uvloop.run(longest_gap(work)) for _ in range(rounds)]
        row[name] = {
            "parse_s": round(min(took for took, _ in runs), 3),
            "longest_stall_s": round(max(gap for _, gap in runs), 3),
        }
    return row


def buffering(raw: bytes, chunk: int = 65_536) -> dict[str, Any]:
    """The longest step of collecting a body from its 64 KB chunks: one ``b"".join`` at the
    end, against appending each chunk to a ``bytearray`` (what ``ops.read_body`` does)."""
    chunks = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    start = time.perf_counter()
    b"".join(chunks)
    join = time.perf_counter() - start
    buffer, longest = bytearray(), 0.0
    for piece in chunks:
        start = time.perf_counter()
        buffer += piece
        longest = max(longest, time.perf_counter() - start)
    return {
        "body_mb": round(len(raw) / MB),
        "join_s": round(join, 3),
        "longest_append_s": round(longest, 4),
    }


def slowest_probe(server: LiveServer, raw: bytes, key: bool) -> dict[str, Any]:
    """The body sent from another process (``post_elsewhere``: this one only probes)."""
    headers = {"content-type": "application/json"}
    if key:
        headers["idempotency-key"] = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as tmp:
        body, answer = Path(tmp, "body.json"), Path(tmp, "answer.json")
        body.write_bytes(raw)
        start = time.perf_counter()
        sender = post_elsewhere(f"{server.url}/reward", body, answer, headers)
        probes = []
        with httpx.Client(base_url=server.url, timeout=30) as probe:
            while sender.poll() is None:
                sent = time.perf_counter()
                probe.get("/healthz").raise_for_status()
                probes.append(time.perf_counter() - sent)
                time.sleep(0.02)
        took = time.perf_counter() - start
        if sender.wait() != 0:
            raise RuntimeError("the body was not scored")
    return {
        "request_s": round(took, 2),
        "probes": len(probes),
        "slowest_probe_s": round(max(probes), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tune_gc()  # as in every raas process: collections would add stalls of their own
    parsing = []
    for size in (32 * MB, 256 * MB, 760 * MB):
        parsing.append(in_process(body(size), args.rounds))
        print(parsing[-1], flush=True)
    reading = buffering(body(256 * MB))
    print(reading, flush=True)
    server = LiveServer.start(RAAS_MAX_RESPONSE_CHARS="6000000", RAAS_POOL_SPARES="1")
    try:
        live = {}
        chains = body(256 * MB)
        bodies = {
            "6 KB chains": (chains, False),
            "6 KB chains, with an Idempotency-Key": (chains, True),
            "test_traffic's: 6 KB chains and a 10 MB sample": (body(211 * MB, 10 * MB), False),
            "6 KB chains and a 100 MB sample": (body(256 * MB, 100 * MB), False),
        }
        for name, (raw, key) in bodies.items():
            runs = [slowest_probe(server, raw, key) for _ in range(args.rounds)]
            live[name] = {"body_mb": round(len(raw) / MB), "runs": runs}
            print(name, runs, flush=True)
    finally:
        server.stop()
    write(
        {
            "benchmark": "event-loop stalls while a big /reward body is read and parsed",
            "machine": machine(),
            "parse_in_process": parsing,
            "read_in_process": reading,
            "healthz_while_scoring": live,
        },
        ROOT / "bench/results/big_body.json",
    )


if __name__ == "__main__":
    main()
