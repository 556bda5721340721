"""The README's tables stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from reward_service.registry import FORMATS, VERIFIERS
from reward_service.settings import Settings
from tests.trainers.readme import readme_blocks

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def table_rows(marker: str) -> list[list[str]]:
    block = README.split(f"<!-- {marker}")[1].split(f"<!-- /{marker} -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def test_verifier_table_matches_the_registry() -> None:
    rows = table_rows("verifiers-table")
    assert {row[0] for row in rows if row[1] == "verifier"} == set(VERIFIERS)
    assert {row[0] for row in rows if row[1] == "format"} == set(FORMATS)


def test_settings_table_lists_every_setting_with_its_default() -> None:
    rows = {row[0]: row[1] for row in table_rows("settings-table")}
    fields = Settings.model_fields
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
    """Each ``<!-- trainer-config: NAME -->`` block is read by a test under ``tests/trainers/``
    (``readme_block("NAME")``), which runs it against the trainer's pinned release."""
    tests = Path(__file__).parent / "trainers"
    used = "\n".join(path.read_text() for path in tests.rglob("test_*.py"))
    unreplayed = [name for name in readme_blocks() if f'readme_block("{name}")' not in used]
    assert not unreplayed, f"README trainer configs no test replays: {unreplayed}"
