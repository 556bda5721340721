"""Agreement with Math-Verify's own test expectations: raas ``math`` vs plain math-verify.

The cases are the (gold, prediction, expected verdict) tables of the test suite that the
math-verify 0.9.0 source distribution ships (``tests/``, Apache-2.0, © The HuggingFace Team),
vendored as data in ``bench/data/math_verify_0.9.0_cases.jsonl`` so that the benchmark needs no
network; ``--refresh`` rebuilds that file from the sdist (``pip download``). Cases whose
expectation is stated for a non-default math-verify setting (``precision`` other than 6,
``strict=False``, ``allow_set_relation_comp=True``) are kept in the file but not counted: no
side of this comparison runs with that setting.

Each prediction is sent as a model would write it: a bare answer (no ``\\boxed``, no ``$`` inside,
one line) is boxed, ``$…$`` delimiters removed; a full solution is sent as it is. Both sides see
the same response and the same gold string:

- **plain math-verify**: ``verify(parse(gold), parse(response))``, every default;
- **raas**: the registered ``math`` verifier with default params (``strict`` on), and with
  ``strict: false``; ``invalid_input`` or ``timeout`` counts as disagreeing.

A false positive is a verdict of 1 where the expectation is 0.

    python bench/bench_agreement.py [--refresh] [--out bench/results/agreement.json]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from math_verify import parse, verify  # noqa: E402

from reward_service.contract.errors import InvalidInputError  # noqa: E402
from reward_service.contract.registry import VERIFIERS, Context  # noqa: E402
from reward_service.verifiers import load_verifiers  # noqa: E402
from reward_service.verifiers._text import HEDGE  # noqa: E402

load_verifiers()  # registers math (importing the package registers nothing)

DATA = ROOT / "bench" / "data" / "math_verify_0.9.0_cases.jsonl"
SUITES = {
    "Math-Verify 0.9.0": DATA,
    "NeMo-Skills": DATA.with_name("nemo_skills_math_equal_cases.jsonl"),
}
MODULES = (
    "test_all",
    "test_numina_cases",
    "test_open_thoughts",
    "test_boxed",
    "test_strict",
    "test_yujianll",
)
DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}
TIMEOUT_S = 10
_COMMAND = re.compile(r"\\[A-Za-z]+\*?(?:\{[^{}]*\})?")  # \text{any text}, \begin{bmatrix}
_WORD = re.compile(r"[A-Za-z]{3,}")
_DELIMITERS = re.compile(r"^\s*(?:\$\$|\$|\\\(|\\\[)(.*?)(?:\$\$|\$|\\\)|\\\])\s*$", re.S)

Verdict = int | str  # 0, 1, or the status that kept a verdict from being given
Outcome = tuple[Verdict, dict[str, Any]]  # the verdict and raas's details


class _Overrun(BaseException):
    pass


# --- the vendored expectations ---------------------------------------------------------------


def _settings(fn: Callable[..., Any], names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """The math-verify settings a test case's expectation is stated for."""
    call = inspect.getsource(fn)
    settings: dict[str, Any] = dict(DEFAULTS)
    if found := re.search(r"precision=(\d+)", call):
        settings["precision"] = int(found.group(1))
    types = re.search(r"match_types=\[([^\]]*)\]", call)
    settings["match_types"] = re.findall(r"\w+", types.group(1)) if types else ["latex", "expr"]
    settings.update({k: v for k, v in zip(names, values, strict=True) if k in DEFAULTS})
    return settings


def _cases_in(source_root: Path) -> Iterator[dict[str, Any]]:
    # the sdist's ``tests`` is a namespace package: raas's own ``tests`` package must not shadow it
    saved = sys.path[:]
    sys.path[:] = [str(source_root)] + [p for p in saved if p and Path(p).resolve() != ROOT]
    try:
        modules = [importlib.import_module(f"tests.{name}") for name in MODULES]
    finally:
        sys.path[:] = saved
    for module_name, module in zip(MODULES, modules, strict=True):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            for mark in getattr(fn, "pytestmark", []):
                if not name.startswith("test_") or mark.name != "parametrize":
                    continue
                names = [n.strip() for n in mark.args[0].split(",")]
                for index, values in enumerate(mark.args[1]):
                    row = dict(zip(names, values, strict=True))
                    expected = row.get("expected", row.get("result"))
                    yield {
                        "id": f"{module_name}::{name}[{index}]",
                        "gold": row["gold"],
                        "pred": row["pred"],
                        "expected": int(expected),
                        "settings": _settings(fn, names, values),
                    }


def refresh() -> None:
    """Download the math-verify 0.9.0 sdist and rewrite the vendored expectations from it."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                "math-verify==0.9.0",
                "-d",
                tmp,
            ],
            check=True,
        )
        with tarfile.open(next(Path(tmp).glob("math_verify-0.9.0.tar.gz"))) as sdist:
            sdist.extractall(tmp, filter="data")
        cases = list(_cases_in(Path(tmp) / "math_verify-0.9.0"))
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text("".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases))
    logging.getLogger(__name__).warning("wrote %d cases to %s", len(cases), DATA)


# --- scoring ---------------------------------------------------------------------------------


def as_response(pred: str) -> str:
    """The prediction as a model writes it: a bare one-line answer boxed, a solution unchanged."""
    bare = _DELIMITERS.match(pred)
    inner = bare.group(1).strip() if bare else pred.strip()
    prose = len(_WORD.findall(_COMMAND.sub(" ", inner))) > 1
    if prose or "\\boxed" in pred or "\n" in inner or any(d in inner for d in ("$", "\\(", "\\[")):
        return pred
    return f"\\boxed{{{inner}}}"


def _bounded(fn: Callable[[], Outcome]) -> Outcome:
    def overrun(signum: int, frame: Any) -> None:
        raise _Overrun

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.alarm(TIMEOUT_S)
    try:
        return fn()
    except _Overrun:
        return "timeout", {}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def plain(gold: str, response: str) -> Outcome:
    found = verify(
        parse(gold, parsing_timeout=None),
        parse(response, parsing_timeout=None),
        timeout_seconds=None,
    )
    return int(found), {}


def raas(gold: str, response: str, params: dict[str, Any]) -> Outcome:
    spec = VERIFIERS.get("math")
    validated = spec.params.model_validate(params)
    try:
        prepared = spec.prepare(gold, validated) if spec.prepare else gold
    except InvalidInputError:
        return "invalid_input", {}
    score = spec.fn(response, prepared, validated, Context())
    return int(score.accuracy), score.details


SIDES: dict[str, Callable[[str, str], Outcome]] = {
    "plain math-verify": plain,
    "raas (strict, default)": lambda g, r: raas(g, r, {}),
    "raas (strict: false)": lambda g, r: raas(g, r, {"strict": False}),
}


def _side(fn: Callable[[str, str], Outcome], cases: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [_bounded(partial(fn, c["gold"], c["response"])) for c in cases]
    misses = [
        {"id": c["id"], "expected": c["expected"], "got": got}
        | {key: details[key] for key in ("reason", "gold_fallback") if key in details}
        for c, (got, details) in zip(cases, outcomes, strict=True)
        if got != c["expected"]
    ]
    return {
        "agree": len(cases) - len(misses),
        "false_positives": sum(m["got"] == 1 and m["expected"] == 0 for m in misses),
        "false_negatives": sum(m["got"] != 1 and m["expected"] == 1 for m in misses),
        "misses": misses,
    }


def category(miss: dict[str, Any], plain_misses: set[str], strict: bool = True) -> str:
    """Why raas disagrees with an expectation (for its misses only)."""
    if miss["id"] in plain_misses:
        return "plain math-verify misses it too"
    if miss.get("reason") == HEDGE:
        return "several different boxed answers (a hedge)"
    if "reason" in miss:
        return f"strict check: {miss['reason']}"
    if miss["got"] == "invalid_input":
        return "gold math-verify cannot read: invalid_input"
    if "gold_fallback" in miss:
        return "gold math-verify cannot read, compared as a string"
    if not strict:
        return "a number in prose (strict: false reads LaTeX and boxes only)"
    return 'a number in prose with no "final answer" before it, or a bare number'


def tally(cases: list[dict[str, Any]]) -> dict[str, Any]:
    counted = [
        c | {"response": as_response(c["pred"])}
        for c in cases
        if all(c["settings"][k] == v for k, v in DEFAULTS.items())
    ]
    sides = {side: _side(fn, counted) for side, fn in SIDES.items()}
    for found in sides.values():
        missed = Counter(
            next(c["suite"] for c in counted if c["id"] == m["id"]) for m in found["misses"]
        )
        found["by_suite"] = {
            suite: sum(c["suite"] == suite for c in counted) - missed[suite] for suite in SUITES
        }
    plain_misses = {m["id"] for m in sides["plain math-verify"]["misses"]}
    for side, found in sides.items():
        if side.startswith("raas"):
            for miss in found["misses"]:
                miss["category"] = category(miss, plain_misses, strict="false" not in side)
            found["by_category"] = dict(Counter(m["category"] for m in found["misses"]))
    per_suite = {suite: sum(c["suite"] == suite for c in counted) for suite in SUITES}
    return {
        "cases": len(counted),
        "per_suite": per_suite,
        "not_counted": len(cases) - len(counted),
        "sides": sides,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="rebuild the vendored cases")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/agreement.json")
    args = parser.parse_args()
    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.refresh:
        refresh()
    cases = [
        json.loads(line) | {"suite": suite}
        for suite, path in SUITES.items()
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    result = tally(cases)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    width = max(map(len, SIDES))
    for side, found in result["sides"].items():
        suites = ", ".join(
            f"{suite} {found['by_suite'][suite]}/{n}" for suite, n in result["per_suite"].items()
        )
        sys.stdout.write(
            f"{side:<{width}}  agree {found['agree']}/{result['cases']} ({suites})  "
            f"false positives {found['false_positives']}  "
            f"false negatives {found['false_negatives']}\n"
        )
        for name, count in found.get("by_category", {}).items():
            sys.stdout.write(f"{'':<{width}}    {count:>3}  {name}\n")


if __name__ == "__main__":
    main()
