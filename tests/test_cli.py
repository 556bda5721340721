from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.live import LiveServer
from devtools.ports import free_port
from reward_service.cli import _parser


def healthcheck(port: int) -> int:
    command = [sys.executable, "-m", "reward_service.cli", "healthcheck", "--port", str(port)]
    return subprocess.run(command, capture_output=True, timeout=30).returncode


def test_healthcheck_passes_against_a_live_server(server: LiveServer) -> None:
    assert healthcheck(server.port) == 0


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert healthcheck(free_port()) == 1


@pytest.mark.parametrize(
    ("argv", "role"),
    [(["serve"], "serve"), (["worker", "rules"], "rules"), (["worker", "model"], "model")],
)
def test_every_role_has_a_command(argv: list[str], role: str) -> None:
    args = _parser().parse_args([*argv, "--port", "9000"])
    assert (getattr(args, "role", None) or args.command, args.port) == (role, 9000)


def test_model_worker_without_models_exits_with_a_clear_message() -> None:
    command = [sys.executable, "-m", "reward_service.cli", "worker", "model"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={"RAAS_MODELS": "[]", "PATH": ""}
    )
    assert result.returncode != 0
    assert "RAAS_MODELS" in result.stderr
