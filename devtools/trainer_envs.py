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


# vLLM's declared dependencies need CUDA (flashinfer, cutlass, torch's CUDA build), and so does
# starting an engine: raas-train's checks (tests/trainers/test_vllm.py) import vLLM's Python API
# only, which needs these besides what transformers and torch bring. CPU torch 2.13.0 serves
# both releases (0.34 pins 2.14.0: its Python API imports the same, its compiled kernels are
# never loaded). xgrammar goes in without its triton; apache-tvm-ffi is what xgrammar imports.
_VLLM_IMPORTS = (
    "aiohttp", "cachetools", "cbor2", "cloudpickle", "einops", "fastapi>=0.133,<0.137",
    "llguidance>=1.7,<1.8", "msgspec", "openai", "openai-harmony", "pillow", "prometheus-client",
    "psutil", "py-cpuinfo", "pybase64", "pydantic", "pyzmq", "requests",
    "transformers>=5.16.1,<5.23", "uvloop",
)  # fmt: skip
_VLLM_NO_DEPS = ("xgrammar==0.2.8", "apache-tvm-ffi==0.1.11")

_RECIPES = (
    # verl's reward loop and config: ray, hydra, tensordict, transformers < 5.11 come with it
    Recipe("verl", ("verl==0.9.1",), torch=True),
    # the lowest and highest vLLM of raas-train's range (clients/python's `vllm` extra)
    Recipe("vllm-0.27", _VLLM_IMPORTS, no_deps=("vllm==0.27.0", *_VLLM_NO_DEPS), torch=True),
    Recipe("vllm-0.34", _VLLM_IMPORTS, no_deps=("vllm==0.34.0", *_VLLM_NO_DEPS), torch=True),
)
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


def build(value: Recipe) -> Path:
    """Build ``value``'s environment unless it is current; returns its Python."""
    if is_current(value):
        return python_of(value.name)
    where = env_dir(value.name)
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([value.python, "-m", "venv", str(where)], check=True)
    _pip(value.name, "--upgrade", "pip")
    if value.torch:
        _install_torch(value.name)
    _pip(value.name, *value.requirements, str(CLIENT))
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
