"""Training rows: a prompt plus the reward spec that scores its rollouts (sample-level formatting).

A row (one JSONL line or Parquet row) has ``prompt`` — a string, or a list of chat messages
rendered with the tokenizer's chat template — and the raas sample fields that say how its
responses are scored: ``verifier``, ``ground_truth`` (or ``solution`` / ``answer``),
``data_source`` (default ``default``; metrics are per source), ``params``, ``format``,
``weights``, ``images``, ``meta``. One file can therefore mix tasks, each row with its own
verifier — the V-Triune way — or name none and let the server's routes (``RAAS_ROUTES``) pick
the reward spec by ``data_source``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

_PASSED = ("verifier", "params", "format", "weights", "images", "meta")


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows from ``.jsonl``/``.json`` lines or ``.parquet``; each must have a ``prompt``."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    for index, row in enumerate(rows):
        if "prompt" not in row:
            raise ValueError(f"{path}: row {index} has no 'prompt'")
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def prompt_text(row: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> str:
    prompt = row["prompt"]
    if isinstance(prompt, str):
        return prompt
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return str(text)


def prompt_ids(row: dict[str, Any], prompt: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The prompt's tokens: specials added to plain text only (a chat template wrote its own)."""
    plain = isinstance(row["prompt"], str)
    ids: list[int] = tokenizer(prompt, add_special_tokens=plain)["input_ids"]
    return ids


def longest_prompt(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase) -> int:
    """The most tokens any row's prompt takes: what a rollout engine must make room for."""
    return max(len(prompt_ids(row, prompt_text(row, tokenizer), tokenizer)) for row in rows)


def reward_sample(row: dict[str, Any], prompt: str, response: str) -> dict[str, Any]:
    """The raas wire sample for one rollout of ``row``."""
    truth = next((row[k] for k in ("ground_truth", "solution", "answer") if k in row), None)
    sample: dict[str, Any] = {
        "data_source": str(row.get("data_source") or "default"),
        "ground_truth": truth,
        "prompt": prompt,
        "response": response,
    }
    for key in _PASSED:
        value = row.get(key)
        if isinstance(value, dict):  # a Parquet struct fills absent keys with None
            value = {k: v for k, v in value.items() if v is not None}
        if value is not None:
            sample[key] = value
    return sample


class PromptSampler:
    """Rows in a fresh random order each epoch, ``batch`` at a time."""

    def __init__(self, rows: list[dict[str, Any]], seed: int) -> None:
        self.rows = rows
        self.rng = random.Random(seed)
        self._order: Iterator[dict[str, Any]] = iter(())

    def take(self, batch: int) -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        while len(taken) < batch:
            row = next(self._order, None)
            if row is None:
                shuffled = list(self.rows)
                self.rng.shuffle(shuffled)
                self._order = iter(shuffled)
                continue
            taken.append(row)
        return taken
