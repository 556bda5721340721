"""The compat endpoints' knobs (``RAAS_OPENRLHF_*``, ``RAAS_JUDGE_*``) live in
``compat.settings.CompatSettings``, not in the core ``Settings``: the core neither holds nor
imports them, and the same environment variables still reach ``/get_reward`` and ``/judge``
(from the environment or handed to ``create_app``), their start checks included."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from reward_service.compat.settings import CompatSettings
from reward_service.contract.errors import UnknownNameError
from reward_service.http.app import create_app
from reward_service.metrics import Metrics
from reward_service.settings import Settings

# 2 of think_answer's 4 tags and the right answer: accuracy 1, format 0.5
QUERY = "<think>\nx\n</think>\n\\boxed{4}"
ENV = {"RAAS_OPENRLHF_FORMAT": "think_answer", "RAAS_OPENRLHF_FORMAT_WEIGHT": "1"}


@contextmanager
def client(compat: CompatSettings | None = None) -> Iterator[TestClient]:
    settings = Settings(pool_workers=1, pool_spares=0)
    with TestClient(create_app(settings, Metrics(CollectorRegistry()), compat=compat)) as http:
        yield http


def test_the_core_settings_hold_no_compat_knob() -> None:
    assert not issubclass(Settings, CompatSettings)
    assert set(CompatSettings.model_fields).isdisjoint(Settings.model_fields)
    with pytest.raises(ValidationError, match="openrlhf_format"):
        Settings(openrlhf_format="think_answer")  # type: ignore[call-arg]


def test_the_core_settings_module_imports_no_compat_module() -> None:
    code = "import sys, reward_service.settings\nprint(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "reward_service.settings" in loaded
    assert "reward_service.compat" not in loaded


def test_the_environment_reaches_get_reward(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with client() as http:
        answer = http.post("/get_reward", json={"query": [QUERY], "labels": ["4"]}).json()
    assert answer["rewards"] == [pytest.approx((1.0 + 0.5) / 2)]
    assert answer["extra_logs"]["format"] == [0.5]


def test_compat_settings_handed_to_the_app_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAAS_OPENRLHF_FORMAT_WEIGHT", "1")
    compat = CompatSettings(openrlhf_format="think_answer", openrlhf_format_weight=3.0)
    with client(compat) as http:
        answer = http.post("/get_reward", json={"query": [QUERY], "labels": ["4"]}).json()
    assert answer["rewards"] == [pytest.approx((1.0 + 3 * 0.5) / 4)]


@pytest.mark.parametrize(
    ("knob", "error", "message"),
    [
        ({"judge_iou_threshold": 0.51}, ValueError, "RAAS_JUDGE_IOU_THRESHOLD"),
        ({"openrlhf_format": "no_such_format"}, UnknownNameError, "no_such_format"),
        ({"openrlhf_verifier": "no_such_verifier"}, UnknownNameError, "no_such_verifier"),
    ],
    ids=["threshold", "format", "verifier"],
)
def test_what_the_endpoints_cannot_use_stops_the_app_being_built(
    knob: dict[str, object], error: type[Exception], message: str
) -> None:
    compat = CompatSettings.model_validate(knob)
    with pytest.raises(error, match=message):
        create_app(Settings(pool_workers=1), Metrics(CollectorRegistry()), compat=compat)


@pytest.mark.parametrize(
    "env",
    [{"RAAS_JUDGE_IOU_THRESHOLD": "0.51"}, {"RAAS_OPENRLHF_FORMAT_WEIGHT": "-1"}],
    ids=["threshold", "weight"],
)
@pytest.mark.parametrize("routers", ["1", "2"])
def test_raas_serve_refuses_to_start_on_a_bad_compat_variable(
    env: dict[str, str], routers: str
) -> None:
    """One router or a supervisor of several: the process exits, naming the variable."""
    command = [sys.executable, "-m", "reward_service.cli", "serve", "--port", "0"]
    environ = {**os.environ, "RAAS_ROUTERS": routers, "RAAS_POOL_WORKERS": "1", **env}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environ)
    assert result.returncode != 0
    name = next(iter(env)).removeprefix("RAAS_").lower()
    assert name in result.stderr.lower()
