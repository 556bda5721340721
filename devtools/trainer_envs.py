"""Each trainer's current release in a virtual environment of its own, for tests that drive raas
through that trainer's own code (``tests/trainers/``).

The trainers pin incompatible versions of the same packages (verl wants transformers < 5.11,
OpenRLHF exactly 5.15.0, raas's dev install TRL's newer one), so none of them can share raas's
``.venv``. Each environment holds the trainer's pinned release and what its reward path imports
on a CPU machine, plus ``raas-client`` (``clients/python``) as a trainer installs it; the raas
server the tests start runs from ``.venv``, so the two meet over HTTP only, as in a real run.

``python -m devtools.trainer_envs [NAME ...]`` builds the named environments (all by default)
under ``.trainer-envs/NAME``; one whose recipe is unchanged since its last build is left as it
is. ``make test`` builds them before pytest; a test that finds one missing builds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVS_DIR = ROOT / ".trainer-envs"
CLIENT = ROOT / "clients" / "python"
TORCH_VERSION = os.environ.get("TORCH_VERSION", "2.13.0")
TORCH_CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


@dataclass(frozen=True)
class Recipe:
    """What one trainer's environment holds.

    ``requirements`` are installed with their dependencies (pinned where the trainer pins);
    ``no_deps`` without them: a trainer whose declared dependencies cannot install on a CPU
    machine (flash-attn, deepspeed's CUDA ops) is installed alone and given, in
    ``requirements``, what the code paths under test import. ``torch``: the CPU build is
    installed first, so that no requirement pulls PyPI's CUDA build."""

    name: str
    requirements: tuple[str, ...]
    no_deps: tuple[str, ...] = ()
    torch: bool = False
    python: str = field(default=sys.executable)

    def digest(self) -> str:
        recipe = asdict(self) | {"torch_version": TORCH_VERSION if self.torch else None}
        recipe["python"] = Path(self.python).name
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


# verl, and ray and transformers (< 5.11) pinned at what its tests ran on; its agent loop
# (verl.experimental.agent_loop) also imports cachetools, fastapi and uvicorn, which verl lists
# only in its `verl-core` extra (beside vLLM's GPU stack)
_VERL = ("verl==0.9.1", "ray[default]==2.60.0", "transformers==5.10.4")
_VERL_AGENT_LOOP = ("cachetools==8.0.3", "fastapi==0.165.0", "uvicorn==0.55.0")
_RECIPES = (Recipe("verl", (*_VERL, *_VERL_AGENT_LOOP), torch=True),)
RECIPES = {value.name: value for value in _RECIPES}


def env_dir(name: str) -> Path:
    return ENVS_DIR / name


def python_of(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def _stamp(name: str) -> Path:
    return env_dir(name) / ".recipe"


def is_current(value: Recipe) -> bool:
    stamp = _stamp(value.name)
    return stamp.exists() and stamp.read_text() == value.digest()


def _pip(name: str, *args: str) -> None:
    command = [str(python_of(name)), "-m", "pip", "install", "--quiet", *args]
    subprocess.run(command, check=True)


def _install_torch(name: str) -> None:
    local = [str(python_of(name)), "-m", "pip", "install", "--quiet", "--dry-run", "--no-index"]
    cpu = f"torch=={TORCH_VERSION}+cpu"
    found = subprocess.run([*local, "--no-deps", cpu], capture_output=True).returncode == 0
    _pip(name, cpu, *([] if found else ["--extra-index-url", TORCH_CPU_INDEX]))


def client_digest() -> str:
    """The installed client's sources: an environment holds a copy (a wheel, as a trainer
    installs it), which must follow every edit of ``trainer_client`` or the tests would drive
    yesterday's adapter."""
    digest = hashlib.sha256()
    for path in sorted([*(CLIENT / "trainer_client").rglob("*.py"), CLIENT / "pyproject.toml"]):
        digest.update(str(path.relative_to(CLIENT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _refresh_client(name: str) -> None:
    """Reinstall the client alone (seconds) when its sources changed since the last install."""
    stamp = env_dir(name) / ".client"
    current = client_digest()
    if not stamp.exists() or stamp.read_text() != current:
        _pip(name, "--no-deps", "--force-reinstall", str(CLIENT))
        stamp.write_text(current)


def build(value: Recipe) -> Path:
    """Build ``value``'s environment unless it is current (its client refreshed); returns its
    Python."""
    if is_current(value):
        _refresh_client(value.name)
        return python_of(value.name)
    where = env_dir(value.name)
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([value.python, "-m", "venv", str(where)], check=True)
    _pip(value.name, "--upgrade", "pip")
    if value.torch:
        _install_torch(value.name)
    client = client_digest()  # before the install: an edit made meanwhile is installed next time
    _pip(value.name, *value.requirements, str(CLIENT))
    (where / ".client").write_text(client)
    if value.no_deps:
        _pip(value.name, "--no-deps", *value.no_deps)
    _stamp(value.name).write_text(value.digest())
    return python_of(value.name)


def ensure(name: str) -> Path:
    """The Python of trainer environment ``name``, built first if it is missing or stale."""
    return build(RECIPES[name])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the trainers' test environments.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(RECIPES))
    names = parser.parse_args(argv).names or list(RECIPES)
    if unknown := [name for name in names if name not in RECIPES]:
        parser.error(f"no trainer environment {unknown}; there are {list(RECIPES)}")
    for name in names:
        sys.stderr.write(f"trainer environment {name}: {build(RECIPES[name])}\n")


if __name__ == "__main__":
    main()
