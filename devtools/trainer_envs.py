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
CLIENT_FILES = {".py", ".txt", ".yaml"}  # its modules and package data (the NeMo Gym server's)
TORCH_VERSION = os.environ.get("TORCH_VERSION", "2.13.0")
TORCH_CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


@dataclass(frozen=True)
class Recipe:
    """What one trainer's environment holds.

    ``requirements`` are installed with their dependencies (pinned where the trainer pins);
    ``no_deps`` without them: a trainer whose declared dependencies cannot install on a CPU
    machine (flash-attn, deepspeed's CUDA ops) is installed alone and given, in
    ``requirements``, what the code paths under test import. ``torch``: the CPU build is
    installed first, so that no requirement pulls PyPI's CUDA build. ``ignore_requires_python``:
    the ``no_deps`` packages install on an interpreter older than they declare (nemo-gym wants
    Python ≥ 3.13.14; the machine has 3.13.0)."""

    name: str
    requirements: tuple[str, ...]
    no_deps: tuple[str, ...] = ()
    torch: bool = False
    python: str = field(default=sys.executable)
    ignore_requires_python: bool = False

    def digest(self) -> str:
        recipe = asdict(self) | {"torch_version": TORCH_VERSION if self.torch else None}
        recipe["python"] = Path(self.python).name
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def pyenv_python(version: str) -> str:
    """The newest pyenv interpreter ``version`` (e.g. ``3.13``) here, else ``pythonX.Y`` on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(root.glob(f"{version}.*/bin/python{version}"))
    return str(found[-1]) if found else shutil.which(f"python{version}") or f"python{version}"


_NEMO_GYM_IMPORTS = (
    "openai==2.44.0",
    "aiohttp>=3.14.4",
    "orjson>=3.11.6",
    "fastapi",
    "uvicorn",
    "httptools",
    "itsdangerous",
    "omegaconf",
    "hydra-core",
    "rich",
    "requests",
    "yappi>=1.7.6",
    "pydot",
    "pandas",
    "scipy>=1.14.1",
    "wandb>=0.30.0",
    # what NeMo Gym's launcher (RunHelper, nemo_gym.cli.env) and the servers it starts import:
    # python-devtools (`devtools`, not raas's), anthropic (vllm_model's converters), and ray's
    # own dependencies, for the local Ray cluster the launcher starts
    "devtools==0.13.0",
    "anthropic==0.109.2",
    "filelock",
    "jsonschema",
    "msgpack",
)
# verl, and ray and transformers (< 5.11) pinned at what its tests ran on; its agent loop
# (verl.experimental.agent_loop) also imports cachetools, fastapi and uvicorn, which verl lists
# only in its `verl-core` extra (beside vLLM's GPU stack)
_VERL = ("verl==0.9.1", "ray[default]==2.60.0", "transformers==5.10.4")
_VERL_AGENT_LOOP = ("cachetools==8.0.3", "fastapi==0.165.0", "uvicorn==0.55.0")
# vLLM's declared dependencies need CUDA (flashinfer, cutlass, torch's CUDA build), and so does
# starting an engine: raas-train's checks (tests/trainers/test_vllm.py) import vLLM's Python API
# only, which needs these besides what transformers and torch bring. CPU torch 2.13.0 serves
# both releases (0.34 pins 2.14.0: its Python API imports the same, its compiled kernels are
# never loaded). xgrammar goes in without its triton; apache-tvm-ffi is what xgrammar imports.
_VLLM_IMPORTS = (
    "aiohttp",
    "cachetools",
    "cbor2",
    "cloudpickle",
    "einops",
    "fastapi>=0.133,<0.137",
    "llguidance>=1.7,<1.8",
    "msgspec",
    "openai",
    "openai-harmony",
    "pillow",
    "prometheus-client",
    "psutil",
    "py-cpuinfo",
    "pybase64",
    "pydantic",
    "pyzmq",
    "requests",
    "transformers>=5.16.1,<5.23",
    "uvloop",
)
_VLLM_NO_DEPS = ("xgrammar==0.2.8", "apache-tvm-ffi==0.1.11")

_RECIPES = (
    Recipe("verl", (*_VERL, *_VERL_AGENT_LOOP), torch=True),
    # slime (GitHub only, not installable here): what its remote_rm and rm hub run on, aiohttp
    # and PIL; raas-client's trainer_client.slime is called with slime's Sample fields
    Recipe("slime", ("aiohttp==3.14.5", "pillow==13.0.0")),
    # NeMo Gym 0.7.0 on Python 3.13 without its service stack (mlflow, mcp, vLLM): its
    # launcher, ServerClient, servers and rollout collection run with these; ray (installed
    # alone: its [default] extra is the dashboard's) is what the launcher starts
    Recipe(
        "nemo_gym",
        _NEMO_GYM_IMPORTS,
        no_deps=("nemo-gym==0.7.0", "ray==2.60.0"),
        python=pyenv_python("3.13"),
        ignore_requires_python=True,
    ),
    # OpenRLHF pins flash-attn (no CPU build) and deepspeed: installed alone, with what its
    # rollout path imports — remote-RM client (utils/agent.py: aiohttp), experience handling
    # (trainer/ppo_utils: ray), utils/__init__ (sympy, pylatexenc), VLM prompts (transformers'
    # Qwen processors over PIL). vLLM (GPU only) is stubbed by the drivers (drivers/_openrlhf.py)
    Recipe(
        "openrlhf",
        ("transformers==5.15.0", "ray==2.55.0", "aiohttp", "sympy", "pylatexenc", "pillow"),
        no_deps=("openrlhf==0.11.2",),
        torch=True,
    ),
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


def _client_stamp(name: str) -> Path:
    return env_dir(name) / ".client"


def _hidden(path: Path) -> bool:
    """Under a dot folder: a virtual environment NeMo Gym made in its server's folder."""
    return any(part.startswith(".") for part in path.relative_to(CLIENT).parts)


def client_digest() -> str:
    """raas-client's sources. An environment holds an installed copy of them, so a change to
    ``trainer_client`` reinstalls it there (else the tests would run the old client)."""
    digest = hashlib.sha256()
    files = (CLIENT / "trainer_client").rglob("*")
    package = sorted(p for p in files if p.suffix in CLIENT_FILES and not _hidden(p))
    sources = [*package, CLIENT / "pyproject.toml"]
    for path in sources:
        digest.update(str(path.relative_to(CLIENT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _clean_client_build() -> None:
    """pip builds the client in its folder, and setuptools' ``build/lib`` keeps files deleted
    from the sources since: without this, a removed module would still be installed."""
    for stale in (CLIENT / "build", *CLIENT.glob("*.egg-info")):
        shutil.rmtree(stale, ignore_errors=True)


def _refresh_client(name: str) -> None:
    stamp, current = _client_stamp(name), client_digest()
    if not stamp.exists() or stamp.read_text() != current:
        _clean_client_build()
        _pip(name, "--no-deps", "--force-reinstall", str(CLIENT))
        stamp.write_text(current)


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
    _clean_client_build()
    _pip(value.name, *value.requirements, str(CLIENT))
    if value.no_deps:
        lax = ["--ignore-requires-python"] if value.ignore_requires_python else []
        _pip(value.name, "--no-deps", *lax, *value.no_deps)
    _stamp(value.name).write_text(value.digest())
    _client_stamp(value.name).write_text(client)
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
