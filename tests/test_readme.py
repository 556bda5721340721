"""The README's tables stay true to the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from devtools.trainer_envs import RECIPES
from reward_service.compat.settings import CompatSettings
from reward_service.contract.registry import FORMATS, VERIFIERS
from reward_service.settings import Settings
from tests.trainers.readme import readme_blocks

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def table_rows(marker: str, start: str = "| `") -> list[list[str]]:
    block = README.split(f"<!-- {marker}")[1].split(f"<!-- /{marker} -->")[0]
    rows = [line for line in block.splitlines() if line.startswith(start)]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def test_verifier_table_matches_the_registry() -> None:
    rows = table_rows("verifiers-table")
    assert {row[0] for row in rows if row[1] == "verifier"} == set(VERIFIERS)
    assert {row[0] for row in rows if row[1] == "format"} == set(FORMATS)


def test_settings_table_lists_every_setting_with_its_default() -> None:
    rows = {row[0]: row[1] for row in table_rows("settings-table")}
    fields = Settings.model_fields | CompatSettings.model_fields  # one table: both read RAAS_*
    assert set(rows) == {f"RAAS_{name.upper()}" for name in fields}
    for name, info in fields.items():
        if info.default_factory is None:
            assert rows[f"RAAS_{name.upper()}"] == str(info.default), name


def test_quick_start_names_the_commands_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "make serve" in README
    assert "make test" in README


def test_every_trainer_config_in_the_readme_is_replayed_by_a_test() -> None:
    """Each ``<!-- trainer-config: NAME -->`` block is read by a test (``readme_block("NAME")``),
    which runs it against the trainer's pinned release (``tests/trainers/``) or raas-train."""
    used = "\n".join(path.read_text() for path in Path(__file__).parent.rglob("test_*.py"))
    unreplayed = [name for name in readme_blocks() if f'readme_block("{name}")' not in used]
    assert not unreplayed, f"README trainer configs no test replays: {unreplayed}"


def _pinned(package: str) -> set[str]:
    """The versions of ``package`` pinned in the trainer environments and the dev extra."""
    specs = [spec for r in RECIPES.values() for spec in (*r.requirements, *r.no_deps)]
    specs += tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["dev"]
    found = (re.fullmatch(rf"{re.escape(package)}==([\w.]+)", spec.split(";")[0]) for spec in specs)
    return {match[1] for match in found if match}


def test_the_compatibility_table_names_the_versions_tested() -> None:
    rows = {row[0]: row for row in table_rows("compatibility-table", start="| [")}
    expected = {
        "verl": "verl",
        "OpenRLHF": "openrlhf",
        "TRL": "trl",
        "NeMo": "nemo-gym",
        "raas-train": "vllm",
    }
    for trainer, package in expected.items():
        row = next(" ".join(cells) for name, cells in rows.items() if trainer in name)
        versions = _pinned(package)
        assert versions, f"nothing pins {package}"
        for version in versions:
            assert version in row, f"the {trainer} row does not name {package} {version}"


PACKAGES = (
    "reward_service",
    "reward_service/http",
    "reward_service/contract",
    "reward_service/routing",
    "reward_service/pool",
    "reward_service/remote",
    "reward_service/models",
    "reward_service/offline",
    "reward_service/compat",
    "trainer_client",
)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_layout_table_names_every_module(package: str) -> None:
    """The Development section's layout row of each package names each of its modules (a
    newcomer finds a part by that table)."""
    rows = {
        match[1]: match[2]
        for match in re.finditer(r"^\| `([^`]+)/` \| (.*) \|$", README, flags=re.MULTILINE)
    }
    modules = {path.stem for path in (ROOT / package).glob("*.py") if path.stem != "__init__"}
    named = set(re.findall(r"`([a-z_]+)[` (]", rows[package]))
    assert sorted(modules - named) == []
