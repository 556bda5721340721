"""The command-line side of ``raas score``, ``raas filter`` and ``raas report``.

Only argparse at import time: ``raas serve`` loads this module too, and the offline extra
(pyarrow, tqdm, matplotlib) is checked when a command runs, with the install hint if missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from reward_service.offline import require

OFFLINE_COMMANDS = ("score", "filter", "report")


def _score_parser(commands: Any) -> None:
    score = commands.add_parser(
        "score", help="score a JSONL or Parquet dataset, resumably (rows already in OUT skipped)"
    )
    score.add_argument("input", type=Path, help="rows with a response and their reward spec")
    score.add_argument("--out", type=Path, required=True, help="scored rows (.jsonl, .parquet)")
    score.add_argument("--url", help="a deployed raas (default: the pool in this process)")
    score.add_argument("--api-key", help="for --url (default $RAAS_API_KEY)")
    score.add_argument("--response-column", default="response")
    score.add_argument("--step", type=int, help="training step, for scheduled rewards")
    score.add_argument("--total-steps", type=int, help="with --step")
    score.add_argument("--workers", type=int, help="pool children (RAAS_POOL_WORKERS)")
    score.add_argument("--batch-size", type=int, default=512, help="rows per request")
    score.add_argument("--inflight", type=int, default=4, help="requests scored at once")
    score.add_argument("--part-rows", type=int, default=2048, help="rows per Parquet row group")
    score.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
    score.add_argument("--summary", type=Path, help="write the run's numbers as JSON here")


def _filter_parser(commands: Any) -> None:
    curate = commands.add_parser("filter", help="curate a dataset: rule-based or by difficulty")
    modes = curate.add_subparsers(dest="mode", required=True)
    rules = modes.add_parser("rules", help="V-Triune's rule-based filters on prompts + answers")
    rules.add_argument("input", type=Path)
    rules.add_argument("--out", type=Path, required=True)
    rules.add_argument("--report", type=Path, help="folder for report.md and plots")
    rules.add_argument(
        "--preset",
        choices=("raas", "v-triune"),
        default="raas",
        help="the rules' values; each option below replaces its own",
    )
    rules.add_argument(
        "--task",
        dest="task_map",
        action="append",
        metavar="GLOB=TASK",
        help="task of rows whose data_source matches (else verifier)",
    )
    rules.add_argument(
        "--open-tasks",
        "--open-verifiers",
        dest="open_tasks",
        help="tasks that need open answers (math,chart,counting,ocr)",
    )
    rules.add_argument("--max-answer-chars", type=int, help="20")
    rules.add_argument("--answer-symbols", help="answers holding any are dropped (=[]();)")
    rules.add_argument("--max-boxes", type=int, help="10")
    rules.add_argument(
        "--max-boxes-per",
        choices=("item", "category"),
        help="all boxes or each label's (raas: item)",
    )
    rules.add_argument("--max-box-area", type=float, help="share of the image (0.5)")
    rules.add_argument(
        "--single-box-share",
        type=float,
        help="target share of single-box items among detection items",
    )
    rules.add_argument("--seed", type=int, help="which items a ratio or cap keeps (0)")
    rules.add_argument("--max-query-chars", type=int, help="longest prompt text kept")
    rules.add_argument(
        "--max-query-tokens",
        type=int,
        help="most prompt tokens kept, chat template on (--tokenizer)",
    )
    rules.add_argument("--tokenizer", help="the policy's tokenizer (a from_pretrained path)")
    rules.add_argument("--english-only", dest="english_tasks", help="tasks kept English only")
    rules.add_argument(
        "--english-min-share", type=float, help="least share of ASCII letters among letters (0.95)"
    )
    rules.add_argument(
        "--math-verify", dest="math_verify_tasks", help="tasks whose label math-verify must parse"
    )
    rules.add_argument("--max-label-words", type=int, help="longest grounding label kept")
    rules.add_argument("--balance", dest="balance_tasks", help="tasks balanced per category")
    rules.add_argument("--category-column", help="a balanced item's category (the answer)")
    rules.add_argument(
        "--category-cap", type=int, help="items kept per category (the smallest category's count)"
    )
    hard = modes.add_parser("difficulty", help="keep prompts whose pass rate is in a band")
    hard.add_argument("input", type=Path, help="a raas score output of k rollouts per prompt")
    hard.add_argument("--out", type=Path, required=True)
    hard.add_argument("--report", type=Path, help="folder for report.md and plots")
    hard.add_argument("--group-by", default="prompt", help="the column naming a rollout's prompt")
    hard.add_argument(
        "--metric",
        choices=("pass", "mean"),
        default="pass",
        help="pass rate (accuracy ≥ 0.5) or mean reward per prompt",
    )
    hard.add_argument(
        "--preset",
        choices=("raas", "v-triune"),
        default="raas",
        help="raas: band (0,1) for all; v-triune: [0,1) for reasoning, "
        "IoU sum in [2,10] for detection/grounding",
    )
    hard.add_argument("--band", help="kept values: (0,1) open, [0.2,0.8] closed (preset's)")
    hard.add_argument(
        "--perception-band", help="kept sums of a perception prompt's accuracy, or none (preset's)"
    )
    hard.add_argument(
        "--perception-verifiers",
        default="detection,iou,giou",
        help="raas_verifier values the perception band applies to",
    )
    hard.add_argument("--response-column", default="response", help="dropped from prompt rows")
    hard.add_argument(
        "--keep",
        choices=("prompts", "rollouts"),
        default="prompts",
        help="one row per kept prompt, or all its rollouts",
    )


def add_commands(commands: Any) -> None:
    _score_parser(commands)
    _filter_parser(commands)
    report = commands.add_parser("report", help="per-source Markdown and plots of a scored file")
    report.add_argument("input", type=Path, help="a raas score output")
    report.add_argument("--out", type=Path, required=True, help="folder for report.md and PNGs")
    report.add_argument("--group-by", help="a prompt column: adds the pass-rate histogram")
    report.add_argument("--response-column", default="response")


def _parquet(*paths: Path) -> tuple[str, ...]:
    from reward_service.offline.tables import is_parquet

    return ("pyarrow",) if any(is_parquet(p) for p in paths) else ()


def _event_loop() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def score(args: argparse.Namespace) -> None:
    require("score", "tqdm", *_parquet(args.input, args.out))
    if args.url:
        require("score --url", "trainer_client")
    from reward_service.compat.settings import CompatSettings
    from reward_service.offline.scoring import Job
    from reward_service.offline.spec import RowMapping
    from reward_service.settings import Settings

    settings = Settings(**({"pool_workers": args.workers} if args.workers else {}))
    compat = CompatSettings()  # V-Triune rows: RAAS_JUDGE_IOU_THRESHOLD, as /judge reads it
    how = RowMapping(args.response_column, args.step, args.total_steps, compat)
    job = Job(
        args.input,
        args.out,
        how,
        args.batch_size,
        args.inflight,
        args.part_rows,
        args.overwrite,
        not args.no_progress,
    )
    with _event_loop() as runner:
        report = runner.run(_score_with(job, args, settings))
    numbers = {
        "rows": report.total,
        "already_written": report.already,
        "scored": report.scored,
        "seconds": round(report.seconds, 3),
        "rows_per_s": round(report.rate, 1),
        "statuses": dict(sorted(report.statuses.items())),
    }
    if args.summary:
        args.summary.write_text(json.dumps(numbers, indent=2) + "\n")
    statuses = ", ".join(f"{k} {v}" for k, v in numbers["statuses"].items()) or "nothing new"
    sys.stderr.write(
        f"raas score: {report.scored} rows in {report.seconds:.1f} s ({report.rate:.0f} rows/s); "
        f"{statuses}; {args.out}\n"
    )


async def _score_with(job: Any, args: argparse.Namespace, settings: Any) -> Any:
    from reward_service.offline.scorers import RemoteScorer, local_scorer
    from reward_service.offline.scoring import run

    if not args.url:
        async with local_scorer(settings, args.step, args.total_steps) as scorer:
            return await run(job, scorer)
    from trainer_client.client import RewardClient

    client = RewardClient(
        args.url, max_batch=args.batch_size, max_concurrency=args.inflight, api_key=args.api_key
    )
    try:
        return await run(job, RemoteScorer(client, args.step, args.total_steps))
    finally:
        await client.aclose()


def filter_rows(args: argparse.Namespace) -> None:
    require("filter", *_parquet(args.input, args.out), *(("matplotlib",) if args.report else ()))
    if args.mode == "rules":
        if (args.max_query_tokens is None) != (args.tokenizer is None):
            raise SystemExit("raas filter rules: --max-query-tokens and --tokenizer go together")
        if args.tokenizer:
            require("filter --tokenizer", "transformers")
        from reward_service.offline.rules import run_rules

        run_rules(args)
    else:
        from reward_service.offline.difficulty import run_difficulty

        run_difficulty(args)


def report(args: argparse.Namespace) -> None:
    require("report", "matplotlib", *_parquet(args.input))
    from reward_service.offline.report import write_report

    path = write_report(args.input, args.out, args.group_by, args.response_column)
    sys.stderr.write(f"raas report: {path}\n")


def run_command(args: argparse.Namespace) -> None:
    """Run an offline command; a file problem exits with its message, not a traceback."""
    from reward_service.offline.tables import TableError

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    handlers = {"score": score, "filter": filter_rows, "report": report}
    try:
        handlers[args.command](args)
    except (TableError, FileNotFoundError) as exc:
        raise SystemExit(f"raas {args.command}: {exc}") from None
