"""The structure the code promises: light contracts, roles that load only what they serve, one
shape per answer, backends that cannot fail a batch."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from reward_service.contract.errors import OverloadedError
from reward_service.contract.schemas import RewardRequest, Sample, SampleResult
from reward_service.contract.task import Outcome, Task
from reward_service.metrics import Metrics
from reward_service.routing.results import result
from reward_service.routing.router import Router
from reward_service.settings import Settings
from trainer_client.client import ScoredSample

HEAVY = ("sympy", "shapely", "math_verify", "latex2sympy2_extended")


def imported_after(code: str) -> list[str]:
    """The heavy modules present in a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "code",
    [
        "import reward_service.routing.router",
        "import reward_service.contract.task",
        "import reward_service.settings",
        "from reward_service.remote.worker import create_model_app\n"
        "from reward_service.settings import Settings\n"
        "create_model_app(Settings())",
        "from reward_service.cli import _parser\n_parser()",
    ],
    ids=["router", "contract", "settings", "model-worker", "cli-with-offline-commands"],
)
def test_these_load_no_sympy_shapely_or_math_verify(code: str) -> None:
    assert imported_after(code) == []


def test_the_rule_worker_does_load_them() -> None:  # the probe above can see them
    code = "from reward_service.verifiers import load_verifiers\nload_verifiers()"
    assert set(imported_after(code)) >= {"sympy", "shapely", "math_verify"}


def test_settings_read_nothing_but_pydantic() -> None:
    code = (
        "import sys, reward_service.settings\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = set(result.stdout.split())
    assert not loaded & {"fastapi", "starlette", "numpy", "torch", "httpx", "orjson", "uvicorn"}


def sample(**fields: object) -> Sample:
    return Sample.model_validate({"verifier": "math", "response": "x", **fields})


@pytest.mark.parametrize(
    "outcome", [Outcome("ok", 1.0, 0.5), Outcome("timeout", error="late")], ids=["ok", "failed"]
)
def test_a_result_has_exactly_the_schemas_fields(outcome: Outcome) -> None:
    reward = 0.9 if outcome.status == "ok" else None
    answer = result(sample(id=3), outcome, reward)
    assert set(answer) == set(SampleResult.model_fields)
    assert SampleResult.model_validate(answer).id == 3


def test_the_client_reads_the_same_result_fields() -> None:
    assert {f.name for f in dataclasses.fields(ScoredSample)} == set(SampleResult.model_fields)


class Raising:
    """A backend with a bug: it raises instead of answering outcomes."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        raise self.error


def score(backend: Raising) -> list[Outcome]:
    metrics = Metrics(CollectorRegistry())
    router = Router(Settings(), {"rules": backend}, metrics)
    request = RewardRequest.model_validate(
        {"samples": [{"verifier": "math", "response": "\\boxed{1}", "ground_truth": "1"}] * 2}
    )
    return asyncio.run(router.run(request))


def test_a_raising_backend_fails_its_samples_not_the_batch() -> None:
    outcomes = score(Raising(RuntimeError("boom")))
    assert [o.status for o in outcomes] == ["error", "error"]
    assert outcomes[0].error == "rules backend failed: RuntimeError: boom"


def test_an_overloaded_backend_refuses_the_whole_request() -> None:
    with pytest.raises(OverloadedError):
        score(Raising(OverloadedError("full", 3)))


def _imports(root: Path) -> dict[str, set[str]]:
    """Module → the ``reward_service`` modules it imports at module level (not under
    ``TYPE_CHECKING``, not inside functions: those are how a cycle is legitimately broken)."""
    modules = {
        ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        ): path
        for path in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and not name.startswith(t)}
    return graph


def test_no_import_circle() -> None:
    """No module of ``reward_service`` imports, through others, a module that imports it (a
    package importing its own submodules aside)."""
    graph = _imports(Path(__file__).resolve().parents[1] / "reward_service")
    circles = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for target in sorted(graph[name]):
            if target in path:
                circles.append([*path[path.index(target) :], target])
            elif target not in done:
                done.add(target)
                visit(target, [*path, target], done)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            done.add(name)
            visit(name, [name], done)
    assert circles == []
