"""The compose topology run as local processes: same commands, same environment, on 127.0.0.1.

Service names become 127.0.0.1, every service gets a free port (two rule workers cannot both
listen on 8001 here) and the model worker's ``/models`` volume is a tiny reward model built from a
config; everything else comes from docker-compose.yml as written.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devtools.live import LiveServer
from devtools.ports import free_port
from devtools.stack import RM_SAMPLE, SERVICES
from devtools.tiny import save_bt
from devtools.vectors import check, expected_rewards
from tests.conftest import load_vectors

ROOT = Path(__file__).resolve().parents[1]


class Topology:
    def __init__(self, models: Path) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        self.services: dict[str, Any] = compose["services"]
        self.ports = {name: free_port() for name in SERVICES}
        self.models = models
        self.live: dict[str, LiveServer] = {}

    def env(self, name: str) -> dict[str, str]:
        env = {key: str(value) for key, value in self.services[name]["environment"].items()}
        env["RAAS_HOST"] = "127.0.0.1"
        env["RAAS_POOL_WORKERS"] = "1"  # four services share this machine's cores
        for key in ("RAAS_RULE_WORKERS", "RAAS_MODEL_WORKERS"):
            if key in env:
                env[key] = re.sub(r"http://([\w-]+):\d+", self._local, env[key])
        if "RAAS_MODELS" in env:
            env["RAAS_MODELS"] = env["RAAS_MODELS"].replace('"/models/', f'"{self.models}/')
        return env

    def _local(self, match: re.Match[str]) -> str:
        return f"http://127.0.0.1:{self.ports[match.group(1)]}"

    def start(self, name: str) -> LiveServer:
        command = self.services[name]["command"]
        self.live[name] = LiveServer.start(*command, port=self.ports[name], **self.env(name))
        return self.live[name]

    def stop(self) -> None:
        for server in self.live.values():
            server.stop()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_bt(root / "rm")
    return root


@pytest.fixture(scope="module")  # one stack for the module; the kill test runs last
def topology(models: Path) -> Iterator[Topology]:
    topology = Topology(models)
    try:
        for name in SERVICES:
            topology.start(name)
        yield topology
    finally:
        topology.stop()


def batch(extra_math: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """The vectors, then ``extra_math`` unique math samples (nothing deduplicated away)."""
    vectors = [
        v for v in load_vectors() if v.get("step", 1) == 1 and v.get("total_steps", 100) == 100
    ]
    samples = [vector["sample"] for vector in vectors]
    expected = expected_rewards(vectors)
    for i in range(extra_math):
        math = {
            "id": i,
            "verifier": "math",
            "response": f"\\boxed{{{i}}}",
            "ground_truth": str(i % 50),
        }
        samples.append(math)
        expected.append(1.0 if i < 50 else 0.0)
    return samples, expected


def test_router_with_remote_workers_scores_the_vectors(topology: Topology) -> None:
    samples, expected = batch(0)
    response = httpx.post(
        f"{topology.live['router'].url}/reward",
        json={"samples": samples, "step": 1, "total_steps": 100},
        timeout=120,
    )
    check(response.json()["results"], samples, expected)
    ready = httpx.get(f"{topology.live['router'].url}/readyz").json()
    assert all(worker["healthy"] for worker in ready["workers"])


def test_reward_model_samples_go_to_the_model_worker(topology: Topology) -> None:
    body = {
        "samples": [
            RM_SAMPLE,
            {"id": "m", "verifier": "math", "response": "\\boxed{4}", "ground_truth": "4"},
        ]
    }
    results = httpx.post(f"{topology.live['router'].url}/reward", json=body, timeout=120).json()[
        "results"
    ]
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert 0.0 < results[0]["reward"] < 1.0
    assert "score" in results[0]["details"]
    assert results[1]["reward"] == 1.0


async def busy(client: httpx.AsyncClient, worker: str) -> bool:
    text = (await client.get(f"{worker}/metrics")).text
    found = re.search(r"^raas_pool_busy (\S+)$", text, re.M)
    return found is not None and float(found.group(1)) > 0


def test_killing_a_rule_worker_mid_stream_loses_nothing(topology: Topology) -> None:
    samples, expected = batch(1000)
    router = topology.live["router"].url

    async def stream() -> list[list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=router, timeout=300) as client:

            async def one() -> list[dict[str, Any]]:
                body = {"samples": samples, "step": 1, "total_steps": 100}
                return list((await client.post("/reward", json=body)).json()["results"])

            requests = [asyncio.create_task(one()) for _ in range(6)]
            workers = [topology.live[name].url for name in ("rules-1", "rules-2")]
            while not all([await busy(client, url) for url in workers]):
                await asyncio.sleep(0.02)  # poll until both workers are scoring
            topology.live["rules-1"].stop(signal.SIGKILL)
            return list(await asyncio.gather(*requests))

    for results in asyncio.run(stream()):
        check(results, samples, expected)
    metrics = httpx.get(f"{router}/metrics").text
    assert re.search(r'raas_remote_retries_total\{backend="rules"\} [1-9]', metrics)
