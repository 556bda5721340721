"""Offline scoring of a 10,000-row dataset of mixed tasks, with the progress bar, and its report.

The rows are ``bench/workload.py``'s realistic rollouts (chains of thought of log-normal length,
GRPO groups of 8, math / choice / chart / counting / detection / grounding), the same workload as
``bench_traffic.py``'s "mixed" scenario, so samples/s compare with the service's. They go
through ``raas score`` as a user runs it (a subprocess, its progress bar on this terminal):
in-process (the embedded pool) and against a running ``raas serve`` (``--url``), both with two
pool children; then ``raas report``. Results: ``bench/results/offline_score.json`` and
``bench/results/offline/score_report/``.

    python bench/bench_offline.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import ROOT, machine, write
from workload import TASKS, batch

from devtools.live import LiveServer

RAAS = [sys.executable, "-m", "reward_service.cli"]


def dataset(path: Path, rows: int) -> None:
    """Rows in the dataset layout: the sample fields and the response, ``id`` left out."""
    samples = batch(random.Random(0), rows, TASKS)
    with path.open("w") as file:
        for sample in samples:
            sample.pop("id")
            file.write(json.dumps(sample) + "\n")


def score(source: Path, out: Path, *extra: str) -> dict[str, Any]:
    """``raas score`` as a user runs it; its own numbers (``--summary``) and its wall time."""
    summary = out.with_suffix(".summary.json")
    command = [
        *RAAS,
        "score",
        str(source),
        "--out",
        str(out),
        "--overwrite",
        "--workers",
        "2",
        "--summary",
        str(summary),
        *extra,
    ]
    start = time.perf_counter()
    finished = subprocess.run(command, stderr=subprocess.PIPE, text=True, check=True)
    wall = time.perf_counter() - start
    sys.stderr.write(finished.stderr)
    bars = re.findall(r"raas score: 100%[^\r\n]*", finished.stderr)
    numbers: dict[str, Any] = json.loads(summary.read_text())
    return {
        **numbers,
        "wall_s_with_start": round(wall, 2),
        "output_bytes": out.stat().st_size,
        "progress_bar_last": bars[-1].strip() if bars else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="raas-offline-"))
    source = work / "rollouts.jsonl"
    dataset(source, args.rows)
    local = score(source, work / "scored.jsonl")
    server = LiveServer.start(RAAS_POOL_WORKERS="2", RAAS_POOL_SPARES="1")
    try:
        remote = score(source, work / "scored_remote.jsonl", "--url", server.url)
    finally:
        server.stop()
    same = (work / "scored.jsonl").read_bytes() == (work / "scored_remote.jsonl").read_bytes()
    parquet = score(source, work / "scored.parquet", "--no-progress")
    report_dir = args.out / "offline" / "score_report"
    subprocess.run(
        [*RAAS, "report", str(work / "scored.jsonl"), "--out", str(report_dir)], check=True
    )
    service = json.loads((args.out / "traffic.json").read_text())
    mixed = next(r for r in service["rows"] if r["scenario"] == "mixed" and r["trainers"] == 1)
    result = {
        "benchmark": "raas score over rollouts of mixed tasks",
        "machine": machine(),
        "rows": args.rows,
        "input_bytes": source.stat().st_size,
        "in_process": local,
        "against_raas_serve": remote,
        "parquet_output": parquet,
        "remote_output_identical_to_in_process": same,
        "service_mixed_1_trainer_samples_per_s": mixed["samples_per_s"],
        "in_process_vs_service": round(local["rows_per_s"] / mixed["samples_per_s"], 3),
        "peak_rss_mb_largest_process": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        ),
    }
    write(result, args.out / "offline_score.json")


if __name__ == "__main__":
    main()
