"""``raas filter rules``: V-Triune's rule-based curation of prompts with reference answers.

No response is needed and nothing is scored: each row's spec is read as ``raas score`` reads it
(``spec.to_sample``: raas's columns, V-Triune's ``reward_model``), and the first rule that holds
names why it is dropped:

- ``unverifiable``: no ground truth, a verifier raas does not have, or (detection) no box the
  verifier can read (a row without a verifier is left to the server's routes);
- ``choice_or_true_false``: a task that needs open answers (``--open-verifiers``: math, chart,
  counting, ocr) whose answer is an option letter (A–H) or yes/no/true/false, or whose prompt
  lists options (lines ``A.``/``(A)``/``A:`` and ``B…``) — a 1-in-4 guess pays too often;
- ``answer_symbols``: such an answer holding any of ``=[]();`` (mis-parsed as relations, intervals
  or lists); ``answer_too_long``: over 20 characters (hard to verify by rule);
- ``too_many_boxes``: detection with more than 10 boxes; ``box_too_big``: a box over half the
  image (boxes are on the verifier's 0–1000 grid, so the image is 1000 × 1000);
- ``box_ratio``: with ``--single-box-share t``, per ``data_source`` the surplus of single-box or
  of multi-box detection items is dropped until single ÷ (single + multi) ≈ t; which ones is
  decided by a hash of (seed, row), so a rerun drops the same rows.

The answer is the ground truth as text, its ``<answer>`` block, ``\\boxed{}`` and ``$`` removed.
Two passes over the input (the ratio needs the counts first); memory grows by one byte per row
plus a few per detection item. Output keeps the input's columns (and Parquet types).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reward_service.errors import InvalidInputError
from reward_service.offline.report import write_filter_report
from reward_service.offline.sinks import open_sink
from reward_service.offline.spec import Mapping, SpecError, to_sample
from reward_service.offline.tables import Row, is_parquet, parquet_schema, read_batches

REASONS = (
    "unverifiable", "choice_or_true_false", "answer_symbols", "answer_too_long",
    "too_many_boxes", "box_too_big", "box_ratio",
)  # fmt: skip
_LETTER = re.compile(r"^\(?([A-H])\)?\.?$")
_TRUE_FALSE = {"yes", "no", "true", "false"}
_OPTION = r"(?m)^\s*(?:\(\s*{0}\s*\)|{0}\s*[.:)])\s*\S"
_OPTIONS = (re.compile(_OPTION.format("A")), re.compile(_OPTION.format("B")))
GRID_AREA = 1000.0 * 1000.0


@dataclass(frozen=True)
class Rules:
    open_verifiers: frozenset[str] = frozenset({"math", "chart", "counting", "ocr"})
    max_answer_chars: int = 20
    answer_symbols: str = "=[]();"
    max_boxes: int = 10
    max_box_area: float = 0.5
    single_box_share: float | None = None
    seed: int = 0


@dataclass
class Tally:
    """Rows and drops per ``data_source``."""

    rows: Counter[str] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)

    def drop(self, source: str, reason: str) -> None:
        self.dropped.setdefault(source, Counter())[reason] += 1


def answer_text(ground_truth: Any) -> str:
    text = str(ground_truth).strip()
    if (start := text.find("<answer>")) >= 0 and (end := text.find("</answer>", start)) >= 0:
        text = text[start + len("<answer>") : end].strip()
    if text.startswith("\\boxed{") and text.endswith("}"):
        text = text[len("\\boxed{") : -1].strip()
    return text.strip("$ ").strip()


def prompt_text(prompt: Any) -> str:
    """A string prompt, or the text of chat messages (``content`` strings or text parts)."""
    if isinstance(prompt, str):
        return prompt
    parts: list[str] = []
    for message in prompt if isinstance(prompt, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
    return "\n".join(parts)


def _open_answer_reason(answer: str, prompt: str, rules: Rules) -> str | None:
    if _LETTER.match(answer) or answer.lower() in _TRUE_FALSE:
        return "choice_or_true_false"
    if all(option.search(prompt) for option in _OPTIONS):
        return "choice_or_true_false"
    if any(symbol in answer for symbol in rules.answer_symbols):
        return "answer_symbols"
    if len(answer) > rules.max_answer_chars:
        return "answer_too_long"
    return None


def box_areas(ground_truth: Any) -> list[float] | None:
    """Box areas as shares of the 0–1000 grid, or ``None`` when the verifier reads no box."""
    from reward_service.verifiers.detection import DetectionParams, prepare

    try:
        boxes = prepare(ground_truth, DetectionParams())
    except InvalidInputError:
        return None
    widths = boxes.coords[:, 2] - boxes.coords[:, 0]
    heights = boxes.coords[:, 3] - boxes.coords[:, 1]
    return [float(a) / GRID_AREA for a in widths * heights]


def _box_reason(areas: list[float] | None, rules: Rules) -> str | None:
    if areas is None:
        return "unverifiable"
    if len(areas) > rules.max_boxes:
        return "too_many_boxes"
    if any(area > rules.max_box_area for area in areas):
        return "box_too_big"
    return None


def judge_row(row: Row, rules: Rules) -> tuple[str, str | None, int]:
    """(data_source, the rule that drops it or ``None``, detection boxes or 0)."""
    try:
        sample = to_sample(row, Mapping())
    except SpecError:
        return str(row.get("data_source") or "default"), "unverifiable", 0
    source = str(sample.get("data_source") or "default")
    ground_truth, verifier = sample.get("ground_truth"), sample.get("verifier")
    if ground_truth is None or str(ground_truth).strip() == "" or verifier not in _known():
        return source, "unverifiable", 0
    if verifier == "detection":
        areas = box_areas(ground_truth)
        return source, _box_reason(areas, rules), len(areas or [])
    if verifier in rules.open_verifiers:
        answer = answer_text(ground_truth)
        return source, _open_answer_reason(answer, prompt_text(row.get("prompt")), rules), 0
    return source, None, 0


def _known() -> set[str | None]:
    """Registered verifiers, and ``None``: a row left to the server's routes."""
    from reward_service.registry import VERIFIERS
    from reward_service.verifiers import load_verifiers

    load_verifiers()
    return {None, *VERIFIERS}


def _rank(seed: int, index: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()


def balance(
    items: dict[str, tuple[list[int], list[int]]], share: float, seed: int
) -> Iterable[tuple[str, int]]:
    """(source, row) to drop so that single ÷ (single + multi) ≈ ``share`` in each source."""
    for data_source, (singles, multis) in items.items():
        s, m = len(singles), len(multis)
        if not s + m:
            continue
        if s > share * (s + m):  # too many single-box items
            keep, pool = (round(share * m / (1 - share)) if share < 1 else s), singles
        else:
            keep, pool = (round((1 - share) * s / share) if share > 0 else m), multis
        for index in sorted(pool, key=lambda i: _rank(seed, i))[keep:]:
            yield data_source, index


def first_pass(source: Any, rules: Rules, tally: Tally) -> bytearray:
    """Per row: 0 (kept) or 1 + its reason's index."""
    codes = bytearray()
    items: dict[str, tuple[list[int], list[int]]] = {}
    for batch in read_batches(source, 0, 1024):
        for row in batch:
            index = len(codes)
            data_source, reason, boxes = judge_row(row, rules)
            tally.rows[data_source] += 1
            codes.append(0 if reason is None else 1 + REASONS.index(reason))
            if reason is not None:
                tally.drop(data_source, reason)
            elif boxes:
                singles, multis = items.setdefault(data_source, ([], []))
                (singles if boxes == 1 else multis).append(index)
    if rules.single_box_share is not None:
        for data_source, index in balance(items, rules.single_box_share, rules.seed):
            codes[index] = 1 + REASONS.index("box_ratio")
            tally.drop(data_source, "box_ratio")
    return codes


def run_rules(args: argparse.Namespace) -> None:
    rules = Rules(
        frozenset(v for v in args.open_verifiers.split(",") if v), args.max_answer_chars,
        args.answer_symbols, args.max_boxes, args.max_box_area, args.single_box_share, args.seed,
    )  # fmt: skip
    tally = Tally()
    codes = first_pass(args.input, rules, tally)
    sink = open_sink(args.out, parquet_schema(args.input), _no_columns(args.out), fresh=True)
    position = 0
    for batch in read_batches(args.input, 0, 1024):
        sink.write([row for offset, row in enumerate(batch) if not codes[position + offset]])
        position += len(batch)
    sink.finish()
    if args.report:
        write_filter_report(args.report, "rules", _table(tally), None)


def _no_columns(out: Any) -> Any:
    if is_parquet(out):
        import pyarrow as pa

        return pa.schema([])
    return None


def _table(tally: Tally) -> list[dict[str, Any]]:
    rows = []
    for source in sorted(tally.rows):
        dropped = tally.dropped.get(source, Counter())
        removed = {reason: dropped[reason] for reason in REASONS}
        total = tally.rows[source]
        rows.append({"data_source": source, "rows": total, **removed,
                     "kept": total - sum(removed.values())})  # fmt: skip
    return rows
