"""What the image tests share: podman, readiness, the reference vectors, the service logs."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import load_vectors

IMAGE = os.environ.get("RAAS_IMAGE", "localhost/raas:cpu")
logger = logging.getLogger("image-test")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result


def wait_ready(url: str, timeout: float = 180.0) -> dict[str, Any]:
    """``/readyz``'s body once it answers 200 (the pool, or the workers, are up)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz not ready after {timeout:.0f} s: {last}")


@dataclass
class Container:
    name: str
    url: str

    def logs(self) -> str:
        result = podman("logs", "--tail", "50", self.name, check=False)
        return result.stdout + result.stderr


def public_vectors() -> list[dict[str, Any]]:
    """Every reference vector of ``tests/vectors/rewards.jsonl``."""
    return load_vectors()


def single_step(vectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The vectors that can share one request (step 1 of 100, the default schedule)."""
    return [v for v in vectors if v.get("step", 1) == 1 and v.get("total_steps", 100) == 100]
