"""What a chunk of tasks costs to cross to a pool child: pickled as task objects (each through its
``__reduce__``, as before) or as columns (:func:`reward_service.contract.task.to_columns`, what the
rule pool sends).

Tasks are made the way the router makes them (one admission per verifier and params per batch,
so a chunk's tasks share their params object), in chunks of ``--chunk``; per task, in the parent
(the router) the pickling, in the child the unpickling into tasks, and the bytes on the pipe.
Both ways take turns (a slow spell of this shared machine slows both alike); medians of CPU time.

    python bench/bench_pool_encode.py [--chunk 512] [--rounds 40]

Results: ``bench/results/pool_encode.json``."""

from __future__ import annotations

import argparse
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from _harness import ROOT, alternating, machine, write
from bench_router_cpu import choice_batch, iou_batch
from workload import TASKS
from workload import batch as cot_batch

from reward_service.contract.admission import Admissions, Admitted
from reward_service.contract.registry import Context
from reward_service.contract.task import Task, from_columns, to_columns
from reward_service.verifiers import load_verifiers

SCENARIOS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "choice": lambda: choice_batch(0),
    "iou": lambda: iou_batch(0),
    "mixed_cot": lambda: cot_batch(random.Random(0), 4096, TASKS),
}
HIGHEST = pickle.HIGHEST_PROTOCOL


def tasks_of(samples: list[dict[str, Any]]) -> list[Task]:
    admissions, context, tasks = Admissions(), Context(), []
    for sample in samples:
        admitted = admissions.admit(sample["verifier"], sample.get("format"), {})
        assert isinstance(admitted, Admitted)
        ground_truth = orjson.dumps(sample["ground_truth"], option=orjson.OPT_SORT_KEYS).decode()
        tasks.append(
            Task(
                sample["verifier"],
                admitted.params,
                sample["response"],
                ground_truth,
                sample.get("format"),
                context,
                params_key=admitted.params_key,
            )
        )
    return sorted(tasks, key=lambda t: (t.verifier, t.ground_truth))  # as the router sends them


def chunks(tasks: list[Task], size: int) -> list[list[Task]]:
    """Chunks of one verifier each, as the pool cuts them."""
    out: list[list[Task]] = []
    for task in tasks:
        if out and len(out[-1]) < size and out[-1][0].verifier == task.verifier:
            out[-1].append(task)
        else:
            out.append([task])
    return out


def measure(tasks: list[Task], size: int, rounds: int) -> dict[str, float]:
    cut = chunks(tasks, size)
    rows = [pickle.dumps((1, chunk), HIGHEST) for chunk in cut]
    columns = [pickle.dumps((1, to_columns(chunk)), HIGHEST) for chunk in cut]
    ways: dict[str, Callable[[], object]] = {
        "rows_pickle": lambda: [pickle.dumps((1, chunk), HIGHEST) for chunk in cut],
        "columns_pickle": lambda: [pickle.dumps((1, to_columns(chunk)), HIGHEST) for chunk in cut],
        "rows_unpickle": lambda: [pickle.loads(data)[1] for data in rows],
        "columns_unpickle": lambda: [from_columns(pickle.loads(data)[1]) for data in columns],
    }
    medians = alternating(ways, rounds)
    out = {f"{name}_us_per_task": round(s / len(tasks) * 1e6, 3) for name, s in medians.items()}
    out["rows_bytes_per_task"] = round(sum(map(len, rows)) / len(tasks), 1)
    out["columns_bytes_per_task"] = round(sum(map(len, columns)) / len(tasks), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/pool_encode.json")
    args = parser.parse_args()
    load_verifiers()
    made = {name: tasks_of(make()) for name, make in SCENARIOS.items()}
    results = {name: measure(tasks, args.chunk, args.rounds) for name, tasks in made.items()}
    write(
        {
            "benchmark": "a chunk of tasks pickled to a pool child: task objects against columns",
            "chunk": args.chunk,
            "rounds": args.rounds,
            "machine": machine(),
            "scenarios": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
