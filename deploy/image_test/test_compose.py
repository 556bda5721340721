"""docker-compose.yml run from the built image with the loopback override: router, two rule
workers and the model worker (a tiny reward model built here on CPU), scraped by Prometheus.

Prometheus (on the host, Debian's package) reads ``deploy/prometheus/prometheus.yml`` with only
its targets changed; every query of the Grafana dashboard must return data from that scrape.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from containers import Container, logger, podman, public_vectors, single_step, wait_ready

from devtools.ports import free_port
from devtools.stack import RM_SAMPLE, SERVICES
from devtools.tiny import save_bt
from devtools.vectors import check, expected_rewards
from tests.http.test_api import PATHOLOGICAL

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "raas-image-test"
PORT_VARIABLES = {name: f"RAAS_TEST_{name.upper().replace('-', '_')}_PORT" for name in SERVICES}


@dataclass
class Stack:
    ports: dict[str, int]
    env: dict[str, str]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            os.environ.get("PODMAN_COMPOSE", "podman-compose"),
            "-p",
            PROJECT,
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/image_test/compose.loopback.yml",
            *args,
        ]
        return subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def container(self, service: str) -> Container:
        names = podman(
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=io.podman.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout.split()
        (name,) = names
        return Container(name, self.url(service))


@pytest.fixture(scope="module")
def models() -> Iterator[Path]:
    """A tiny Bradley-Terry model, readable by the image's unprivileged user."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("RAAS_IMAGE_WORK")) as tmp:
        root = Path(tmp)
        save_bt(root / "rm")
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root


@pytest.fixture(scope="module")
def stack(image: str, models: Path) -> Iterator[Stack]:
    ports = {name: free_port() for name in SERVICES}
    env = {**os.environ, "RAAS_TEST_MODELS": str(models)}
    env |= {PORT_VARIABLES[name]: str(port) for name, port in ports.items()}
    running = Stack(ports, env)
    start = time.monotonic()
    up = running.compose("up", "-d", "--no-build")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for service in SERVICES:
            wait_ready(running.url(service))
        logger.info(
            "compose: %s up in %.0f s on 127.0.0.1 (%s)",
            ", ".join(SERVICES),
            time.monotonic() - start,
            ", ".join(f"{s} :{p}" for s, p in ports.items()),
        )
        yield running
    except Exception:
        for service in SERVICES:
            logs = podman("logs", "--tail", "50", f"{PROJECT}_{service}_1", check=False)
            logger.error("%s logs:\n%s", service, logs.stdout + logs.stderr)
        raise
    finally:
        running.compose("down", "-t", "5")


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus scraping the stack from the start, with the project's config re-targeted."""
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(retargeted(stack.ports)))
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    logger.info("promtool check config: %s", check.stdout.decode().strip().replace("\n", "; "))
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready(f"{url}/-/ready"):
            assert process.poll() is None, "prometheus exited"
            assert time.monotonic() < deadline, "prometheus not ready after 60 s"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def retargeted(ports: dict[str, int]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with ``service:port`` targets → ``127.0.0.1:port``."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            hosts = [target.split(":")[0] for target in static["targets"]]
            assert set(hosts) <= set(ports), hosts
            static["targets"] = [f"127.0.0.1:{ports[host]}" for host in hosts]
    return config


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def reward(stack: Stack, samples: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    body = {"samples": samples, **extra}
    response = httpx.post(f"{stack.url('router')}/reward", json=body, timeout=300)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def single_math(i: int, truth: int | None = None) -> dict[str, Any]:
    truth = i if truth is None else truth
    return {"verifier": "math", "response": f"\\boxed{{{i}}}", "ground_truth": str(truth)}


def test_vectors_and_a_reward_model_sample_through_the_stack(stack: Stack, prometheus: str) -> None:
    vectors = single_step(public_vectors())
    samples = [v["sample"] for v in vectors]
    check(reward(stack, samples, step=1, total_steps=100), samples, expected_rewards(vectors))
    (rm,) = reward(stack, [RM_SAMPLE])
    assert rm["status"] == "ok", rm
    assert 0.0 < rm["reward"] < 1.0
    assert "score" in rm["details"]
    logger.info(
        "compose: %d reference vectors through router → rule containers as expected; `rm` "
        "from the model container: %.4f (score %.4f)",
        len(vectors),
        rm["reward"],
        rm["details"]["score"],
    )


def test_sigkilling_a_rule_container_mid_stream_loses_nothing(stack: Stack) -> None:
    vectors = single_step(public_vectors())
    samples = [v["sample"] for v in vectors]
    samples += [{"id": i, **single_math(i, i % 50)} for i in range(1000)]
    expected = expected_rewards(vectors) + [1.0 if i < 50 else 0.0 for i in range(1000)]
    victim = stack.container("rules-1")

    async def stream() -> list[list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=stack.url("router"), timeout=300) as client:

            async def one() -> list[dict[str, Any]]:
                body = {"samples": samples, "step": 1, "total_steps": 100}
                return list((await client.post("/reward", json=body)).json()["results"])

            requests = [asyncio.create_task(one()) for _ in range(6)]
            await asyncio.sleep(0.5)  # requests are in flight on both rule containers
            # as a crash (the OOM killer, a segfault): `podman kill` would count as a stop
            pid = podman("inspect", "--format", "{{.State.Pid}}", victim.name).stdout
            os.kill(int(pid), signal.SIGKILL)
            return list(await asyncio.gather(*requests))

    start = time.monotonic()
    answers = asyncio.run(stream())
    elapsed = time.monotonic() - start
    for results in answers:
        check(results, samples, expected)
    metrics = httpx.get(f"{stack.url('router')}/metrics").text
    retried = re.search(r'raas_remote_retries_total\{backend="rules"\} (\S+)', metrics)
    assert retried is not None, "no raas_remote_retries_total for the rule workers"
    assert float(retried.group(1)) >= 1, "no piece was retried"
    logger.info(
        "kill test: rules-1's raas process SIGKILLed 0.5 s into 6 concurrent requests of %d "
        "samples; all %d results as expected in %.1f s; the router retried %d pieces on rules-2",
        len(samples),
        6 * len(samples),
        elapsed,
        float(retried.group(1)),
    )


def test_the_killed_container_is_restarted_and_serves_again(stack: Stack) -> None:
    """``restart: unless-stopped`` brings the crashed rules-1 back; the router takes it back."""
    victim = stack.container("rules-1")
    wait_ready(victim.url, timeout=120)
    restarts = podman("inspect", "--format", "{{.RestartCount}}", victim.name).stdout.strip()
    assert int(restarts) >= 1
    deadline = time.monotonic() + 60
    while not all(w["healthy"] for w in router_workers(stack)):
        assert time.monotonic() < deadline, router_workers(stack)
        time.sleep(1)
    logger.info("rules-1 restarted by podman (restart count %s), healthy again", restarts)


def router_workers(stack: Stack) -> list[dict[str, Any]]:
    body = httpx.get(f"{stack.url('router')}/readyz").json()
    return list(body["workers"])  # by position: readiness names no worker URL


def test_a_pathological_sample_times_out_in_a_rule_container(stack: Stack) -> None:
    """After the kill test, so that the timeout counters it leaves are on living workers."""
    samples = [{**PATHOLOGICAL, "id": "bad"}, {"id": "ok", **single_math(4)}]
    bad, ok = reward(stack, samples)
    assert (bad["status"], bad["reward"]) == ("timeout", None)
    assert (ok["status"], ok["reward"]) == ("ok", 1.0)
    logger.info("compose: a pathological sample timed out in a rule container: %s", bad["error"])


def test_prometheus_scrapes_every_service_and_every_dashboard_query_has_data(
    stack: Stack, prometheus: str
) -> None:
    exprs = dashboard_queries()
    deadline = time.monotonic() + 90
    while True:
        targets = query(prometheus, "targets")["activeTargets"]
        down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
        empty = [e for e in exprs if not query(prometheus, "query", query=e)["result"]]
        if not (down or empty) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(targets) == len(SERVICES), targets
    assert not down, down
    assert not empty, empty
    selectors = sorted({s for e in exprs for s in re.findall(r"raas_\w+(?:\{[^}]*\})?", e)})
    for selector in selectors:
        assert query(prometheus, "series", **{"match[]": selector}), selector
    logger.info(
        "prometheus: %d/%d targets up; %d dashboard queries return data; scraped: %s",
        len(targets),
        len(SERVICES),
        len(exprs),
        ", ".join(selectors),
    )


def dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/raas.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def query(prometheus: str, endpoint: str, **params: str) -> Any:
    response = httpx.get(f"{prometheus}/api/v1/{endpoint}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]
