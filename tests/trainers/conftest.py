"""Tests that drive raas through each trainer's own code, in that trainer's environment.

A driver (``drivers/<trainer>_*.py``) runs in ``.trainer-envs/<trainer>`` (built by
``devtools.trainer_envs``: the trainer's pinned release, raas-client, nothing of the server),
calls the trainer's code against the live server whose URL it is given, and prints one JSON
object on its last line of stdout. The test compares what the trainer received with what raas
answered and checks on the server side (its Prometheus counters) that raas was really called.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools import trainer_envs
from devtools.live import LiveServer

DRIVERS = Path(__file__).parent / "drivers"
Driver = Callable[..., dict[str, Any]]


def run_driver(
    trainer: str, script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Run ``drivers/<script>`` in ``trainer``'s environment; its last stdout line, as JSON."""
    python = trainer_envs.ensure(trainer)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    full_env |= {"PYTHONPATH": "", "PYTHONDONTWRITEBYTECODE": "1"} | (env or {})
    done = subprocess.run(
        [str(python), str(DRIVERS / script), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def counted(server: LiveServer, sample_name: str, **labels: str) -> float:
    """The sum of the samples named ``sample_name`` (``raas_samples_total``,
    ``raas_request_seconds_count``) on ``server``'s ``/metrics`` whose labels include
    ``labels``: what raas itself saw."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name and labels.items() <= sample.labels.items()
    )


def raas_results(
    server: LiveServer, samples: list[dict[str, Any]], *, key: str | None = None, **schedule: int
) -> list[dict[str, Any]]:
    """raas's own ``/reward`` results for ``samples``: what a trainer should end up holding."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        f"{server.url}/reward", json={"samples": samples, **schedule}, headers=headers, timeout=120
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def requests_to(server: LiveServer, endpoint: str) -> float:
    """Requests ``server`` answered on ``endpoint`` (``raas_request_seconds_count``)."""
    return counted(server, "raas_request_seconds_count", endpoint=endpoint)


@pytest.fixture
def driver() -> Driver:
    return run_driver
