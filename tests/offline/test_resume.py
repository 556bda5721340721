"""A ``raas score`` killed (SIGKILL) mid-run, then resumed, writes what an unbroken one does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reward_service.offline.scorers import local_scorer
from reward_service.offline.scoring import Job, Report, run
from reward_service.settings import Settings
from tests.offline.data import mixed_rows, write_parquet

ROWS, PART_ROWS = 3000, 200
OPTIONS = {"batch_size": 32, "inflight": 2, "part_rows": PART_ROWS, "progress": False}


def score_in_process(jobs: list[Job]) -> list[Report]:
    async def score_all() -> list[Report]:
        async with local_scorer(Settings(pool_workers=1, pool_spares=0), None, None) as scorer:
            return [await run(job, scorer) for job in jobs]

    return asyncio.run(score_all())


def written(out: Path) -> int:
    if out.suffix == ".jsonl":
        return out.read_bytes().count(b"\n") if out.exists() else 0
    parts = out.with_name(out.name + ".parts")
    return PART_ROWS * len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0


def kill_after(source: Path, out: Path, rows: int) -> None:
    """``raas score`` in its own process, SIGKILLed once ``rows`` are in ``out``."""
    command = [
        sys.executable,
        "-m",
        "reward_service.cli",
        "score",
        str(source),
        "--out",
        str(out),
        "--workers",
        "1",
        "--batch-size",
        "32",
        "--inflight",
        "1",
        "--part-rows",
        str(PART_ROWS),
        "--no-progress",
    ]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        while written(out) < rows and process.poll() is None:
            time.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"


@pytest.mark.slow
def test_a_killed_run_resumed_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    source = write_parquet(tmp_path / "in.parquet", mixed_rows(ROWS, seed=7), row_group_size=500)
    outs = {suffix: tmp_path / f"killed{suffix}" for suffix in (".jsonl", ".parquet")}
    for out in outs.values():
        kill_after(source, out, 2 * PART_ROWS + 1)
        assert 2 * PART_ROWS <= written(out) < ROWS
    assert not outs[".parquet"].exists()  # only parts so far
    with outs[".jsonl"].open("ab") as file:
        file.write(b'{"data_source": "math_src", "verif')  # a line torn by the kill
    killed_at = {suffix: written(out) for suffix, out in outs.items()}

    resumed = [Job(source, out, **OPTIONS) for out in outs.values()]  # type: ignore[arg-type]
    whole = [Job(source, tmp_path / f"whole{s}", **OPTIONS) for s in outs]  # type: ignore[arg-type]
    reports = score_in_process(resumed + whole)

    for (suffix, out), report, reference in zip(outs.items(), reports, whole, strict=False):
        assert report.already == killed_at[suffix]  # the torn line cut off
        assert report.already + report.scored == ROWS
        assert out.read_bytes() == reference.out.read_bytes(), suffix
        assert report.statuses["invalid_input"] == 0
    assert pq.read_table(outs[".parquet"]).column("raas_row").to_pylist() == list(range(ROWS))
    assert not outs[".parquet"].with_name("killed.parquet.parts").exists()
