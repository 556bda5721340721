"""``raas filter rules``: V-Triune's rule-based curation of prompts with reference answers.

No response is needed and nothing is scored: each row's spec is read as ``raas score`` reads it
(``spec.to_sample``: raas's columns, V-Triune's ``reward_model``). A row's *task* is its
verifier (``iou``/``giou``: grounding) unless ``--task GLOB=TASK`` maps its ``data_source``
(V-Triune scores math, chart, counting and OCR all with ``mathverify``, so its rows need the
map). The first rule that holds names why a row is dropped, counted per ``data_source``:

- ``unverifiable``: no ground truth, a verifier raas does not have, or (detection) no box the
  verifier can read (a row without a verifier is left to the server's routes);
- ``query_too_long``: with ``--max-query-chars n``, a prompt (its text) over n characters;
- ``not_english``: a task in ``--english-only`` whose prompt and answer have letters that are
  not ASCII beyond ``--english-min-share`` (0.95) of all letters;
- ``choice_or_true_false``: a task that needs open answers (``--open-tasks``) whose answer is an
  option letter (A–H) or yes/no/true/false, or whose prompt lists options (lines
  ``A.``/``(A)``/``A:`` and ``B…``) — a 1-in-4 guess pays too often;
- ``answer_symbols``: such an answer holding any of ``=[]();`` (mis-parsed as relations, intervals
  or lists); ``answer_too_long``: over 20 characters (hard to verify by rule);
- ``not_math_verifiable``: a task in ``--math-verify`` whose label math-verify does not parse
  (V-Triune's gold parse, ``_math_parse.lenient_gold``: lower-cased, first match; V-Triune scores
  such a gold 0 whatever the answer);
- ``too_many_boxes``: detection with more than 10 boxes (``--max-boxes-per category``: of one
  label); ``box_too_big``: a box over half the image (boxes are on the verifier's 0–1000 grid,
  so the image is 1000 × 1000); ``complex_label``: a grounding item (detection boxes, task
  grounding) with a label of more than ``--max-label-words`` words; a grounding item is judged
  by box size and label only, as V-Triune's paper lists for grounding;
- ``box_ratio``: with ``--single-box-share t``, per ``data_source`` the surplus of single-box or
  of multi-box detection items (not grounding) is dropped until single ÷ (single + multi) ≈ t;
- ``category_balance``: for tasks in ``--balance``, per ``data_source`` each category (the
  ``--category-column`` value, else the answer) keeps at most as many items as its smallest
  category (``--category-cap n``: n). Which items a ratio or a cap drops is decided by a hash of
  (seed, row), so a rerun drops the same rows.

Presets (``--preset``; each option given replaces the preset's value): ``raas`` (default: the
rules above that need no option) and ``v-triune`` (paper §5.1.1.1: reasoning tasks math, chart,
puzzle, science and choice open; 10 boxes per category; single : multi = 1 : 2; counting and
OCR English-only; OCR labels math-verifiable; counting balanced per category; grounding labels of
at most 4 words).

The answer is the ground truth as text, its ``<answer>`` block, ``\\boxed{}`` and ``$`` removed.
Two passes over the input (ratios and caps need the counts first); memory grows by one byte per
row plus a few per balanced item. Output keeps the input's columns (and Parquet types).
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from reward_service.contract.errors import InvalidInputError
from reward_service.offline.report import write_filter_report
from reward_service.offline.sinks import open_sink
from reward_service.offline.spec import RowMapping, SpecError, to_sample
from reward_service.offline.tables import Row, is_parquet, parquet_schema, read_batches
from reward_service.verifiers._boxes import Boxes

REASONS = (
    "unverifiable",
    "query_too_long",
    "not_english",
    "choice_or_true_false",
    "answer_symbols",
    "answer_too_long",
    "not_math_verifiable",
    "too_many_boxes",
    "box_too_big",
    "complex_label",
    "box_ratio",
    "category_balance",
)
_LETTER = re.compile(r"^\(?([A-H])\)?\.?$")
_TRUE_FALSE = {"yes", "no", "true", "false"}
_OPTION = r"(?m)^\s*(?:\(\s*{0}\s*\)|{0}\s*[.:)])\s*\S"
_OPTIONS = (re.compile(_OPTION.format("A")), re.compile(_OPTION.format("B")))
GRID_AREA = 1000.0 * 1000.0
MAX_LABEL_CHARS = 1000
VERIFIER_TASKS = {"iou": "grounding", "giou": "grounding"}  # else the verifier's own name


def _tasks(text: str) -> frozenset[str]:
    return frozenset(t.strip() for t in text.split(",") if t.strip())


@dataclass(frozen=True)
class Rules:
    open_tasks: frozenset[str] = frozenset({"math", "chart", "counting", "ocr"})
    max_answer_chars: int = 20
    answer_symbols: str = "=[]();"
    max_boxes: int = 10
    max_boxes_per: str = "item"  # or "category": boxes of one label
    max_box_area: float = 0.5
    single_box_share: float | None = None
    seed: int = 0
    task_map: tuple[tuple[str, str], ...] = ()  # (data_source glob, task), first match wins
    max_query_chars: int | None = None
    max_query_tokens: int | None = None
    tokenizer: str | None = None  # the policy's, for max_query_tokens
    english_tasks: frozenset[str] = frozenset()
    english_min_share: float = 0.95
    math_verify_tasks: frozenset[str] = frozenset()
    max_label_words: int | None = None
    balance_tasks: frozenset[str] = frozenset()
    category_column: str | None = None
    category_cap: int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Rules:
        """The preset, with each option the command line gives in place of its value."""
        given: dict[str, Any] = {}
        for spec in fields(cls):
            value = getattr(args, spec.name, None)
            if value is None:
                continue
            if spec.name.endswith("_tasks"):
                value = _tasks(value)
            elif spec.name == "task_map":
                value = tuple(_task_pair(text) for text in value)
            given[spec.name] = value
        return replace(PRESETS[getattr(args, "preset", None) or "raas"], **given)


def _task_pair(text: str) -> tuple[str, str]:
    glob, sep, task = text.partition("=")
    if not sep or not glob.strip() or not task.strip():
        raise SystemExit(f"raas filter rules: --task {text!r}: write it as GLOB=TASK")
    return glob.strip(), task.strip()


PRESETS = {
    "raas": Rules(),
    "v-triune": Rules(
        open_tasks=frozenset({"math", "chart", "puzzle", "science", "choice"}),
        max_boxes_per="category",
        single_box_share=1 / 3,
        english_tasks=frozenset({"counting", "ocr"}),
        math_verify_tasks=frozenset({"ocr"}),
        max_label_words=4,
        balance_tasks=frozenset({"counting"}),
    ),
}


@dataclass
class Tally:
    """Rows and drops per ``data_source``."""

    rows: Counter[str] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)

    def drop(self, source: str, reason: str) -> None:
        self.dropped.setdefault(source, Counter())[reason] += 1


@dataclass(frozen=True)
class Verdict:
    """What the first pass learns of a row."""

    source: str
    reason: str | None = None
    boxes: int = 0  # detection boxes of a kept item, for the single/multi ratio
    category: str | None = None  # a kept item's category, for tasks that are balanced


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


def english(text: str, min_share: float) -> bool:
    """Whether ASCII letters make at least ``min_share`` of the letters (no letter: yes)."""
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(c.isascii() for c in letters) >= min_share * len(letters)


def math_verifiable(ground_truth: Any) -> bool:
    """Whether math-verify reads the label as V-Triune's verifier reads a gold (else V-Triune
    scores every answer to it 0). A label over 1,000 characters is not parsed (a bound on the
    parse's time, which has no timeout here) and does not pass."""
    from reward_service.verifiers._math_parse import lenient_gold

    if len(str(ground_truth)) > MAX_LABEL_CHARS:
        return False
    try:
        lenient_gold(ground_truth, vtriune=True)
    except InvalidInputError:
        return False
    return True


@functools.cache
def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def query_tokens(prompt: Any, tokenizer: str) -> int:
    """Tokens of the prompt as verl's ``filter_overlong_prompts`` (V-Triune's trainer) counts
    them, ``len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True))`` (a string
    prompt as one user message): an image counts as its placeholder, not as the vision tokens
    it expands to."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if not isinstance(messages, list):
        return 0
    ids = load_tokenizer(tokenizer).apply_chat_template(messages, add_generation_prompt=True)
    # transformers 5 answers a BatchEncoding, earlier releases (verl's) the list of ids
    return len(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _too_many_tokens(prompt: Any, rules: Rules) -> bool:
    most, tokenizer = rules.max_query_tokens, rules.tokenizer
    return most is not None and tokenizer is not None and query_tokens(prompt, tokenizer) > most


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


def read_boxes(ground_truth: Any) -> Boxes | None:
    """The ground truth's boxes as the detection verifier reads them, or ``None``."""
    from reward_service.verifiers.detection import DetectionParams, prepare

    try:
        return prepare(ground_truth, DetectionParams())
    except InvalidInputError:
        return None


def _areas(boxes: Boxes) -> list[float]:
    """Box areas as shares of the 0–1000 grid."""
    widths = boxes.coords[:, 2] - boxes.coords[:, 0]
    heights = boxes.coords[:, 3] - boxes.coords[:, 1]
    return [float(a) / GRID_AREA for a in widths * heights]


def _box_reason(boxes: Boxes | None, task: str, rules: Rules) -> str | None:
    """Detection: the box count, size; grounding (V-Triune's D3): size and label only."""
    if boxes is None:
        return "unverifiable"
    most = max(Counter(boxes.labels).values()) if rules.max_boxes_per == "category" else len(boxes)
    if task != "grounding" and most > rules.max_boxes:
        return "too_many_boxes"
    if any(area > rules.max_box_area for area in _areas(boxes)):
        return "box_too_big"
    words = rules.max_label_words
    if task == "grounding" and words is not None and _longest_label(boxes) > words:
        return "complex_label"
    return None


def _longest_label(boxes: Boxes) -> int:
    """Words in the longest label."""
    return max((len(label.split()) for label in boxes.labels), default=0)


def task_of(data_source: str, verifier: str | None, rules: Rules) -> str | None:
    for glob, task in rules.task_map:
        if fnmatch.fnmatchcase(data_source, glob):
            return task
    return VERIFIER_TASKS.get(verifier or "", verifier)


def _text_reason(row: Row, answer: str, task: str | None, rules: Rules) -> str | None:
    """The rules on the query's and answer's text, whatever the task."""
    prompt = prompt_text(row.get("prompt"))
    if rules.max_query_chars is not None and len(prompt) > rules.max_query_chars:
        return "query_too_long"
    if _too_many_tokens(row.get("prompt"), rules):
        return "query_too_long"
    if task in rules.english_tasks and not english(f"{prompt}\n{answer}", rules.english_min_share):
        return "not_english"
    return None


def judge_row(row: Row, rules: Rules) -> Verdict:
    """The ``data_source``, the rule that drops the row or ``None``, and what the ratio and the
    category balance count."""
    try:
        sample = to_sample(row, RowMapping())
    except SpecError:
        return Verdict(str(row.get("data_source") or "default"), "unverifiable")
    source = str(sample.get("data_source") or "default")
    ground_truth, verifier = sample.get("ground_truth"), sample.get("verifier")
    if ground_truth is None or str(ground_truth).strip() == "" or verifier not in _known():
        return Verdict(source, "unverifiable")
    task = task_of(source, verifier, rules)
    answer = answer_text(ground_truth)
    if reason := _text_reason(row, answer, task, rules):
        return Verdict(source, reason)
    boxes = 0
    if verifier == "detection":
        found = read_boxes(ground_truth)
        reason = _box_reason(found, task or "", rules)
        boxes = len(found or ()) if task != "grounding" else 0  # the ratio is detection's
    elif task in rules.open_tasks:
        reason = _open_answer_reason(answer, prompt_text(row.get("prompt")), rules)
    if reason:
        return Verdict(source, reason)
    if task in rules.math_verify_tasks and not math_verifiable(ground_truth):
        return Verdict(source, "not_math_verifiable")
    return Verdict(
        source, None, boxes, _category(row, answer, rules) if task in rules.balance_tasks else None
    )


def _category(row: Row, answer: str, rules: Rules) -> str:
    if rules.category_column is None:
        return answer
    return str(row.get(rules.category_column))


def _known() -> set[str | None]:
    """Registered verifiers, and ``None``: a row left to the server's routes."""
    from reward_service.contract.registry import VERIFIERS
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


def cap_categories(
    items: dict[str, dict[str, list[int]]], cap: int | None, seed: int
) -> Iterable[tuple[str, int]]:
    """(source, row) to drop so that no category of a source has more than ``cap`` items (or
    than its smallest category has)."""
    for data_source, categories in items.items():
        most = cap if cap is not None else min(len(rows) for rows in categories.values())
        for rows in categories.values():
            for index in sorted(rows, key=lambda i: _rank(seed, i))[most:]:
                yield data_source, index


def first_pass(source: Any, rules: Rules, tally: Tally) -> bytearray:
    """Per row: 0 (kept) or 1 + its reason's index."""
    codes = bytearray()
    items: dict[str, tuple[list[int], list[int]]] = {}
    categories: dict[str, dict[str, list[int]]] = {}
    for batch in read_batches(source, 0, 1024):
        for row in batch:
            index = len(codes)
            verdict = judge_row(row, rules)
            tally.rows[verdict.source] += 1
            codes.append(0 if verdict.reason is None else 1 + REASONS.index(verdict.reason))
            if verdict.reason is not None:
                tally.drop(verdict.source, verdict.reason)
                continue
            if verdict.boxes:
                singles, multis = items.setdefault(verdict.source, ([], []))
                (singles if verdict.boxes == 1 else multis).append(index)
            if verdict.category is not None:
                found = categories.setdefault(verdict.source, {})
                found.setdefault(verdict.category, []).append(index)
    drops: list[tuple[str, int, str]] = []
    if rules.single_box_share is not None:
        drops += [
            (s, i, "box_ratio") for s, i in balance(items, rules.single_box_share, rules.seed)
        ]
    drops += [
        (s, i, "category_balance")
        for s, i in cap_categories(categories, rules.category_cap, rules.seed)
    ]
    for data_source, index, reason in drops:
        codes[index] = 1 + REASONS.index(reason)
        tally.drop(data_source, reason)
    return codes


def run_rules(args: argparse.Namespace) -> None:
    rules = Rules.from_args(args)
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
        rows.append(
            {"data_source": source, "rows": total, **removed, "kept": total - sum(removed.values())}
        )
    return rows
