"""Training rows: a prompt plus the reward spec that scores its rollouts (sample-level formatting).

A row (one JSONL line or Parquet row) has ``prompt`` — a string, or a list of chat messages
rendered with the tokenizer's chat template — and the raas sample fields that say how its
responses are scored: ``verifier``, ``ground_truth`` (or ``solution`` / ``answer``),
``data_source`` (default ``default``; metrics are per source), ``params``, ``format``,
``weights``, ``images``, ``meta``; or V-Triune's ``reward_model`` column, as Orsta's Parquet
files hold it (:mod:`.spec`). One file can therefore mix tasks, each row with its own
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

from trainer_client.grpo.prompts import CotPool, with_cot, with_longest_cot
from trainer_client.grpo.spec import row_spec, vtriune_model
from trainer_client.vtriune_rows import VTriuneSpecError, parm_object, vtriune_spec


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
        check_spec(row, f"{path}: row {index}")
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def check_spec(row: dict[str, Any], where: str) -> None:
    """A V-Triune ``reward_model`` its own server would crash on fails at start, not mid-run."""
    model = vtriune_model(row)
    if model is None:
        return
    try:
        parm = parm_object(model.get("verifier_parm"))
        vtriune_spec(model["verifier"], str(model.get("ground_truth") or ""), parm, "dynamic")
    except VTriuneSpecError as exc:
        raise ValueError(f"{where}: reward_model: {exc}") from None


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


def longest_prompt(
    rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, cot: CotPool = "none"
) -> int:
    """The most tokens any row's prompt takes — with the longest instruction of the CoT pool
    where one is appended —: what a rollout engine must make room for."""
    longest = (with_longest_cot(row, cot, tokenizer) for row in rows)
    return max(len(prompt_ids(row, prompt_text(row, tokenizer), tokenizer)) for row in longest)


def reward_samples(
    row: dict[str, Any],
    prompt: str,
    responses: list[str],
    iou_threshold: str | float = "dynamic",
    image_size: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The raas wire samples for rollouts of ``row`` (its spec read once: :func:`.row_spec`)."""
    spec = row_spec(row, iou_threshold, image_size)
    source = str(row.get("data_source") or "default")
    return [
        {"data_source": source, "prompt": prompt, "response": response, **spec}
        for response in responses
    ]


def reward_sample(row: dict[str, Any], prompt: str, response: str) -> dict[str, Any]:
    """The raas wire sample for one rollout of ``row``."""
    return reward_samples(row, prompt, [response])[0]


class PromptSampler:
    """Rows in a fresh random order each epoch, ``batch`` at a time; with a CoT pool each row
    taken is a copy whose prompt ends in an instruction drawn from it (V-Triune draws anew each
    time a row is read)."""

    def __init__(self, rows: list[dict[str, Any]], seed: int, cot: CotPool = "none") -> None:
        self.rows = rows
        self.cot = cot
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
            taken.append(with_cot(row, self.cot, self.rng))
        return taken
