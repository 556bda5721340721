"""The built ``cpu`` image as one container on 127.0.0.1: probes, health check, user, vectors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from containers import Container, logger, podman, public_vectors, single_step, wait_ready

from devtools.ports import free_port

VECTORS = public_vectors()
ROUTES = "/etc/raas/routes/orsta.yaml"  # shipped in the image; no vector's data_source matches


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    port = free_port()
    name = f"raas-image-test-{port}"
    podman(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "-e",
        "RAAS_HOST=127.0.0.1",
        "-e",
        f"RAAS_PORT={port}",
        "-e",
        "RAAS_POOL_WORKERS=2",
        "-e",
        f"RAAS_ROUTES={ROUTES}",
        image,
    )
    running = Container(name, f"http://127.0.0.1:{port}")
    try:
        wait_ready(running.url)
        yield running
    except Exception:
        logger.error("container logs:\n%s", running.logs())
        raise
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)


def test_probes_answer(container: Container) -> None:
    assert httpx.get(f"{container.url}/healthz").status_code == 200
    ready = httpx.get(f"{container.url}/readyz")
    assert ready.status_code == 200, ready.text
    logger.info("container /readyz: %s", ready.text)


def test_the_images_own_health_check_passes(image: str, container: Container) -> None:
    (inspected,) = json.loads(podman("image", "inspect", image).stdout)
    assert inspected["Healthcheck"]["Test"] == ["CMD", "raas", "healthcheck"]  # docker format
    result = podman("healthcheck", "run", container.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    logger.info("podman healthcheck run: %s", result.stdout.strip() or "healthy")


def test_it_runs_as_the_unprivileged_user(container: Container) -> None:
    assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"


def test_a_dead_server_fails_the_health_check(image: str) -> None:
    """The check is real: with nothing listening on RAAS_PORT it fails."""
    result = podman(
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        f"RAAS_PORT={free_port()}",
        image,
        "healthcheck",
        check=False,
    )
    assert result.returncode == 1


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["id"])
def test_reward_vector_through_the_container(container: Container, vector: dict[str, Any]) -> None:
    extra = {k: vector[k] for k in ("step", "total_steps") if k in vector}
    body = {"samples": [vector["sample"]], **extra}
    response = httpx.post(f"{container.url}/reward", json=body, timeout=60)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    expect = vector["expect"]
    if "status" in expect:
        assert (result["status"], result["reward"]) == (expect["status"], None)
        assert result["error"]
    else:
        assert result["status"] == "ok", result
        assert result["reward"] == pytest.approx(expect["reward"], abs=1e-5)


def test_all_vectors_in_one_batch_through_the_container(container: Container) -> None:
    vectors = single_step(VECTORS)
    body = {"samples": [v["sample"] for v in vectors], "step": 1, "total_steps": 100}
    results = httpx.post(f"{container.url}/reward", json=body, timeout=120).json()["results"]
    assert [r["id"] for r in results] == [v["sample"]["id"] for v in vectors]
    for vector, result in zip(vectors, results, strict=True):
        expected = vector["expect"].get("reward")
        assert result["reward"] == (None if expected is None else pytest.approx(expected, abs=1e-5))
    logger.info(
        "container: %d reference vectors one by one and %d in one batch, all as expected",
        len(VECTORS),
        len(vectors),
    )


def test_the_shipped_routes_score_samples_without_a_verifier(container: Container) -> None:
    routes = httpx.get(f"{container.url}/v1/routes", timeout=10).json()["routes"]
    assert len(routes) == 8
    think = "<think>\nsum\n</think>\n<answer>\n\\boxed{4}\n</answer>"
    body = {"samples": [{"data_source": "orsta/math_mm", "response": think, "ground_truth": "4"}]}
    (result,) = httpx.post(f"{container.url}/reward", json=body, timeout=60).json()["results"]
    assert result["components"] == {"accuracy": 1.0, "format": 1.0}
