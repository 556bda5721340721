"""The README's trainer configs and commands, read from the README itself, so the tests replay
exactly what a user copies.

A block is marked in README.md as::

    <!-- trainer-config: verl-reward-loop -->
    ```yaml
    ...
    ```
    <!-- /trainer-config -->

``readme_block("verl-reward-loop")`` returns the code inside the fence. ``tests/test_readme.py``
checks that every marked block is replayed by some test under ``tests/trainers/``.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(
    r"<!-- trainer-config: (?P<name>[\w.-]+) -->\s*```[\w-]*\n(?P<body>.*?)```\s*"
    r"<!-- /trainer-config -->",
    re.DOTALL,
)


def readme_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for match in _BLOCK.finditer(README.read_text()):
        name = match["name"]
        if name in blocks:
            raise ValueError(f"README.md marks two trainer-config blocks {name!r}")
        blocks[name] = match["body"]
    return blocks


def readme_block(name: str) -> str:
    blocks = readme_blocks()
    if name not in blocks:
        raise KeyError(f"README.md has no trainer-config block {name!r}; it has {list(blocks)}")
    return blocks[name]
