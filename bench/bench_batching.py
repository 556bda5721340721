"""Token-budget dynamic batching vs arrival-order fixed-size batching, in one run, one model.

Workload: many concurrent small requests, as a GRPO trainer's reward calls look from the model
worker: ``--clients`` clients each send requests of 1–8 samples back to back. Lengths are
RL-like: half short answers (24–128 tokens), half chains of thought (log-normal, median 384,
capped at 1,536). Both sides score the same prepared items with the same ``BTScorer.forward``;
only batch formation differs:

- dynamic: raas's ``Batcher`` (sorted, length-bucketed under ``--budget`` padded tokens);
- fixed: arrival order, ``--batch-size`` rows padded to the longest (how OpenRLHF's serve_rm
  and most RM servers batch), waiting at most the same ``max_wait`` to fill a batch.

Reported: tokens/s (real tokens scored per second of wall time), padding efficiency (real /
padded tokens), batches, request latency. Targets on CPU: ratio ≥ 2, efficiency ≥ 0.9.
On a GPU it also reports tokens/s against the compute bound: the measured bf16 matmul rate
divided by 2 × the non-embedding parameters (FLOPs per token of a forward pass).

    python bench/bench_batching.py [--out bench/results/batching.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.tiny import save_bt  # noqa: E402
from reward_service.contract.registry import Context  # noqa: E402
from reward_service.contract.task import Task  # noqa: E402
from reward_service.models.base import Item  # noqa: E402
from reward_service.models.batcher import Batcher  # noqa: E402
from reward_service.models.bt import BTScorer  # noqa: E402
from reward_service.models.config import ModelSpec  # noqa: E402
from reward_service.verifiers.model.rm import RMParams  # noqa: E402

VOCAB = 2000
SIZES = {  # model shapes: small enough for CPU; ~0.36B non-embedding parameters on a GPU
    "cpu": {"hidden": 256, "layers": 4, "heads": 8, "intermediate": 1024},
    "cuda": {"hidden": 896, "layers": 24, "heads": 14, "kv_heads": 2, "intermediate": 4864},
}
Forward = Callable[[list[Item]], list[float]]


def rl_lengths(n: int, rng: random.Random) -> list[int]:
    short = [rng.randint(24, 128) for _ in range(n // 2)]
    long = [min(1536, int(rng.lognormvariate(5.95, 0.6))) for _ in range(n - n // 2)]
    lengths = short + long
    rng.shuffle(lengths)
    return lengths


def workload(scorer: BTScorer, n: int, clients: int, seed: int) -> list[list[list[Item]]]:
    """Per client, its requests (lists of prepared items), lengths as RL produces them."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(VOCAB)]
    items = []
    for length in rl_lengths(n, rng):
        response = " ".join(rng.choices(words, k=max(1, length - 12)))
        task = Task("rm", RMParams(model="bench"), response, "null", None, Context(), "w1 w2")
        items.append(scorer.prepare(task))
    queues: list[list[list[Item]]] = [[] for _ in range(clients)]
    start, client = 0, 0
    while start < len(items):
        size = rng.randint(1, 8)
        queues[client % clients].append(items[start : start + size])
        start, client = start + size, client + 1
    return queues


class FixedBatcher:
    """The baseline: arrival order, ``batch_size`` rows, waits ≤ ``max_wait_s`` to fill."""

    def __init__(self, forward: Forward, batch_size: int, max_wait_s: float) -> None:
        self.forward, self.batch_size, self.max_wait_s = forward, batch_size, max_wait_s
        self.queue: asyncio.Queue[tuple[Item, asyncio.Future[float]]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1)
        self.tokens = self.padded = self.batches = 0

    async def submit(self, items: Sequence[Item]) -> list[float]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        for item, future in zip(items, futures, strict=True):
            self.queue.put_nowait((item, future))
        return list(await asyncio.gather(*futures))

    async def consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.batch_size and (left := deadline - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            items = [item for item, _ in batch]
            scores = await loop.run_in_executor(self.executor, self.forward, items)
            self.tokens += sum(i.tokens for i in items)
            self.padded += len(items) * max(i.tokens for i in items)
            self.batches += 1
            for (_, future), score in zip(batch, scores, strict=True):
                future.set_result(score)


async def drive(
    submit: Callable[[Sequence[Item]], Any], queues: list[list[list[Item]]]
) -> dict[str, Any]:
    latencies: list[float] = []

    async def client(requests: list[list[Item]]) -> None:
        for request in requests:
            start = time.perf_counter()
            await submit(request)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client(q) for q in queues))
    wall = time.perf_counter() - start
    tokens = sum(i.tokens for q in queues for r in q for i in r)
    latencies.sort()
    return {
        "wall_s": round(wall, 3),
        "tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
    }


async def run_dynamic(scorer: BTScorer, queues: Any, budget: int, wait_s: float) -> dict[str, Any]:
    batcher: Batcher[Item, float] = Batcher(
        "bench", scorer.forward, max_tokens=budget, max_wait_s=wait_s, max_queue=1_000_000
    )
    batcher.start()
    try:
        result = await drive(batcher.submit, queues)
    finally:
        await batcher.close()
    s = batcher.stats
    return {
        **result,
        "batches": s.batches,
        "mean_rows": round(s.rows / s.batches, 1),
        "padding_efficiency": round(s.padding_efficiency, 4),
        "max_padded_tokens": s.max_padded_tokens,
    }


async def run_fixed(scorer: BTScorer, queues: Any, size: int, wait_s: float) -> dict[str, Any]:
    fixed = FixedBatcher(scorer.forward, size, wait_s)
    consumer = asyncio.create_task(fixed.consume())
    try:
        result = await drive(fixed.submit, queues)
    finally:
        consumer.cancel()
        fixed.executor.shutdown()
    return {
        **result,
        "batches": fixed.batches,
        "batch_size": size,
        "padding_efficiency": round(fixed.tokens / fixed.padded, 4),
    }


def matmul_flops(device: torch.device, n: int = 8192, repeat: int = 20) -> float:
    """Measured bf16 matmul rate (FLOP/s) on ``device``."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * repeat / (time.perf_counter() - start)


def non_embedding_params(scorer: BTScorer) -> int:
    embedding = scorer.model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in scorer.model.parameters()) - embedding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--budget", type=int, help="padded tokens per dynamic batch")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per fixed batch")
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/batching.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    budget = args.budget or (8192 if device.type == "cpu" else 131072)
    shape = SIZES["cuda" if device.type == "cuda" else "cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        save_bt(Path(tmp), extra_words=VOCAB, **shape)  # type: ignore[arg-type]
        spec = ModelSpec(
            name="bench",
            path=tmp,
            kind="bt",
            device=args.device,
            max_tokens_per_batch=budget,
            max_input_tokens=budget,
        )
        scorer = BTScorer.load(spec)
    queues = workload(scorer, args.samples, args.clients, seed=0)
    warm = [i for q in queues[:2] for r in q for i in r][:8]
    scorer.forward(warm)
    wait_s = args.max_wait_ms / 1000
    dynamic = asyncio.run(run_dynamic(scorer, queues, budget, wait_s))
    fixed = asyncio.run(run_fixed(scorer, queues, args.batch_size, wait_s))
    report = summary(args, scorer, device, dynamic, fixed, budget)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def summary(
    args: argparse.Namespace,
    scorer: BTScorer,
    device: torch.device,
    dynamic: dict[str, Any],
    fixed: dict[str, Any],
    budget: int,
) -> dict[str, Any]:
    params = non_embedding_params(scorer)
    ratio = dynamic["tokens_per_s"] / fixed["tokens_per_s"]
    report: dict[str, Any] = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": {"non_embedding_params": params, "dtype": str(scorer.model.dtype)},
        "workload": {
            "samples": args.samples,
            "clients": args.clients,
            "budget": budget,
            "max_wait_ms": args.max_wait_ms,
        },
        "dynamic": dynamic,
        "fixed": fixed,
        "tokens_per_s_ratio": round(ratio, 2),
        "targets": {"tokens_per_s_ratio": 2.0, "padding_efficiency": 0.9},
        "passed": ratio >= 2.0 and dynamic["padding_efficiency"] >= 0.9,
    }
    if device.type == "cuda":
        rate = matmul_flops(device)
        bound = rate / (2 * params)
        report["compute_bound"] = {
            "matmul_tflops": round(rate / 1e12, 1),
            "tokens_per_s_bound": round(bound),
            "dynamic_fraction": round(dynamic["tokens_per_s"] / bound, 3),
            "fixed_fraction": round(fixed["tokens_per_s"] / bound, 3),
        }
    return report


if __name__ == "__main__":
    main()
