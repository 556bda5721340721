"""Installs that fit their users, each into a fresh virtualenv from the package index.

The trainer side (``clients/python``: raas-client) brings the client's own dependencies only and
scores against a live server; the server's own install (``make serve``: ``pip install .``)
brings no torch, no model or dev extras.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.live import LiveServer

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "fastapi", "math_verify", "shapely", "sympy", "uvicorn"]
CLIENT_DISTRIBUTIONS = {  # httpx, orjson and what httpx needs, nothing else
    *("raas-client", "httpx", "httpcore", "h11", "anyio", "idna", "sniffio", "certifi"),
    *("orjson", "typing-extensions", "pip", "setuptools"),
}
PROBE = """
import importlib.metadata, importlib.util, json, sys
from trainer_client import RaasRewardFunction, RewardClient, compute_score
present = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
samples = [
    {"id": "right", "verifier": "math", "response": "\\\\boxed{4}", "ground_truth": "4"},
    {"id": "wrong", "verifier": "math", "response": "\\\\boxed{5}", "ground_truth": "4"},
]
batch = RewardClient(sys.argv[1]).score_sync(samples)
names = sorted({d.metadata["Name"] for d in importlib.metadata.distributions()})
print(json.dumps({"present": present, "rewards": batch.rewards, "distributions": names}))
"""


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def isolated_env() -> dict[str, str]:
    """This environment without anything that would put the checkout on ``sys.path``."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.mark.slow
def test_client_only_install_scores_without_server_dependencies(
    tmp_path: Path, server: LiveServer
) -> None:
    python = fresh_venv(tmp_path / "venv")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT / "clients" / "python")],
        check=True,
        timeout=600,
        env=isolated_env(),
    )
    result = subprocess.run(
        [str(python), "-c", PROBE, server.url, ",".join([*HEAVY, "reward_service"])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=isolated_env(),
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["present"] == []
    assert probe["rewards"] == [1.0, 0.0]
    assert {normalise(n) for n in probe["distributions"]} <= CLIENT_DISTRIBUTIONS
    train = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "raas-train"), "--help"], capture_output=True, timeout=60
    )
    assert train.returncode == 0  # its options answer without torch


@pytest.mark.slow
def test_the_servers_own_install_brings_no_torch_and_no_extras(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            str(ROOT),
        ],
        check=True,
        timeout=600,
        env=isolated_env(),
    )
    names = {
        normalise(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]
    }
    assert {"raas", "math-verify", "fastapi", "uvicorn", "shapely"} <= names
    unwanted = {"torch", "transformers", "raas-client", "pytest", "mypy", "trl", "pillow"}
    assert names.isdisjoint(unwanted), names & unwanted
