"""The tiny VLM's grounding benchmark as the GPU script runs it: ``bench/toy_grounding.py`` in
bfloat16 (the precision CUDA gets), here on CPU and shortened, against its own live raas; and
the GPU script's refusal of a machine without CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer_client.grpo.metrics import read_log

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_bfloat16_run_goes_end_to_end(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "bench/toy_grounding.py",
        "--device",
        "cpu",
        "--dtype",
        "bfloat16",
        "--steps",
        "2",
        "--warm-steps",
        "3",
        "--rows",
        "24",
        "--prompts-per-step",
        "4",
        "--group-size",
        "4",
        "--out",
        str(tmp_path),
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["policy"] == {"device": "cpu", "dtype": "bfloat16"}
    assert summary["warm_start"]["rows"] == 24
    assert (summary["grpo"]["prompts_per_step"], summary["grpo"]["group_size"]) == (4, 4)
    log = read_log(tmp_path / "metrics.jsonl")
    assert [entry["step"] for entry in log] == [0, 1]
    assert all(0 <= entry["reward/grounding"] <= 1 and "parsed/grounding" in entry for entry in log)
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    (tmp_path / "curves.png").unlink()
    redraw = [sys.executable, "bench/toy_grounding.py", "--plot-only", "--out", str(tmp_path)]
    subprocess.run(redraw, cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without")
def test_the_gpu_script_refuses_a_machine_without_cuda(tmp_path: Path) -> None:
    env = {**os.environ, "RESULTS": str(tmp_path), "PYTHON": sys.executable}
    run = subprocess.run(
        ["bash", "bench/gpu/toy_grounding_cuda.sh", "--steps", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "no CUDA device here" in run.stderr
    assert not list(tmp_path.iterdir())  # nothing ran
