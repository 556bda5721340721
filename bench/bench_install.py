"""Install footprints and times, each from a fresh clone of HEAD with an empty pip cache.

- router only: ``make serve`` as the README says, timed until ``/healthz`` and ``/readyz`` answer
  (the cold start), then the venv it made is measured;
- with models: ``make install-models`` (torch for this machine, transformers, pillow);
- client only: ``pip install ./clients/python`` into a fresh venv (what a trainer installs);
- everything: ``make install`` (dev tools, models, client, raas-train), what ``make test`` uses.

Size is the venv on disk; packages are the distributions in it. Where pip is configured with a
local wheel folder (this machine keeps the CPU torch wheel there), torch is not downloaded.

    python bench/bench_install.py [--out bench/results/install.json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _harness import ROOT, machine, write

from devtools.ports import free_port


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def footprint(venv: Path) -> dict[str, Any]:
    size = int(
        subprocess.run(
            ["du", "-sb", str(venv)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = sorted(line.split("==")[0].split(" @ ")[0] for line in listed.splitlines() if line)
    heavy = [n for n in names if n.lower() in {"torch", "transformers", "fastapi", "math-verify"}]
    return {"size_mb": round(size / 1e6), "packages": len(names), "of_note": heavy}


def clone(into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    return into


def serve_cold_start(work: Path, env: dict[str, str]) -> dict[str, Any]:
    """``make serve`` in a fresh clone: seconds until it serves (/healthz and /readyz: 200)."""
    checkout = clone(work / "serve")
    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen(
        ["make", "serve"],
        cwd=checkout,
        env={**env, "RAAS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not all(answers(f"http://127.0.0.1:{port}/{p}") for p in ("healthz", "readyz")):
            assert process.poll() is None, "make serve exited"
            assert time.perf_counter() - start < 600, "make serve did not serve in 10 minutes"
            time.sleep(0.2)
        serving = time.perf_counter() - start
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)
    return {
        "command": "make serve",
        "seconds_to_serving": round(serving, 1),  # /healthz and /readyz both answer 200
        **footprint(checkout / ".venv"),
    }


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def make_install(work: Path, target: str, env: dict[str, str]) -> dict[str, Any]:
    checkout = clone(work / target)
    seconds = run(["make", target], checkout, env)
    return {
        "command": f"make {target}",
        "seconds": round(seconds, 1),
        **footprint(checkout / ".venv"),
    }


def client_install(work: Path, env: dict[str, str]) -> dict[str, Any]:
    checkout = clone(work / "client")
    venv = work / "client-venv"
    seconds = run([sys.executable, "-m", "venv", str(venv)], work, env)
    seconds += run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "./clients/python"],
        checkout,
        env,
    )
    return {
        "command": "pip install ./clients/python",
        "seconds": round(seconds, 1),
        **footprint(venv),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/install.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, measure in [
            ("router_only", lambda env: serve_cold_start(work, env)),
            ("with_models", lambda env: make_install(work, "install-models", env)),
            ("client_only", lambda env: client_install(work, env)),
            ("everything", lambda env: make_install(work, "install", env)),
        ]:
            cache = work / f"pip-cache-{name}"  # empty: every download counted
            env = {**os.environ, "PIP_CACHE_DIR": str(cache)}
            env.pop("VIRTUAL_ENV", None)
            results[name] = measure(env)
            print(name, results[name], flush=True)
    write(results, args.out)


if __name__ == "__main__":
    main()
