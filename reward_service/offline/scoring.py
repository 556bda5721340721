"""``raas score``: every row of a dataset scored, in order, resumably, none ever lost.

Rows are read in batches (512) and a few batches (4) are in flight at once, so the pool always has
work while the next batch is read and the last one written. A batch is scored by the router itself
or by a deployed raas (``scorers``: the same verdicts either way).

**No row is lost.** Each row's sample is validated alone first (a bad spec is ``invalid_input``
with pydantic's message). The router refuses a whole request (422) for a sample whose verifier,
format or params it rejects, or that no route covers: the samples the refusal names are written
``invalid_input`` with its message and the rest sent again; a refusal that names none (413, say)
is split in halves down to the one sample. A remote raas unreachable through every retry makes its
batch ``unavailable``; a rejected API key (401/403) stops the run (resume it with the right key).

Written per row: the input row as read, then ``raas_row`` (its position in the input),
``raas_verifier`` (as sent, else the one the server's route chose), ``raas_reward``,
``raas_status``, ``raas_error``, ``raas_components``, ``raas_details`` (objects in JSONL, JSON text
in Parquet). See ``sinks`` for how a killed run resumes to the same bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from reward_service.contract.errors import RequestError, validation_errors
from reward_service.contract.schemas import Sample
from reward_service.offline.sinks import JsonlSink, Sink, open_sink
from reward_service.offline.spec import RowMapping, SpecError, to_sample
from reward_service.offline.tables import (
    Row,
    TableError,
    count_rows,
    is_parquet,
    parquet_schema,
    read_batches,
)

RESULT_COLUMNS = (
    "raas_row",
    "raas_verifier",
    "raas_reward",
    "raas_status",
    "raas_error",
    "raas_components",
    "raas_details",
)
JSON_COLUMNS = ("raas_components", "raas_details")
Result = dict[str, Any]


class Scorer(Protocol):
    async def score(self, samples: list[Sample]) -> list[Result]:
        """One result per sample (``reward``, ``status``, ``components``, ``details``,
        ``error``), or :class:`~reward_service.contract.errors.RequestError` (the batch refused)."""
        ...


def failure(status: str, error: str) -> Result:
    return {"reward": None, "status": status, "components": {}, "details": {}, "error": error}


def _named(errors: list[dict[str, Any]], size: int) -> dict[int, str]:
    """Sample index → the refusal's messages about it."""
    named: dict[int, list[str]] = {}
    for error in errors:
        loc = error.get("loc") or []
        if len(loc) >= 2 and loc[0] == "samples" and isinstance(loc[1], int) and loc[1] < size:
            where = ".".join(str(part) for part in loc[2:])
            named.setdefault(loc[1], []).append(f"{where}: {error.get('msg')}".lstrip(": "))
    return {index: "; ".join(messages) for index, messages in named.items()}


async def score_samples(scorer: Scorer, samples: list[Sample]) -> list[Result]:
    """One result per sample, however often the batch is refused."""
    if not samples:
        return []
    try:
        return await scorer.score(samples)
    except RequestError as refused:
        named = _named(refused.errors, len(samples))
        if not named and len(samples) == 1:
            return [failure("invalid_input", str(refused))]
    if not named:
        half = len(samples) // 2
        return [
            *await score_samples(scorer, samples[:half]),
            *await score_samples(scorer, samples[half:]),
        ]
    rest = [i for i in range(len(samples)) if i not in named]
    scored = iter(await score_samples(scorer, [samples[i] for i in rest]))
    return [
        failure("invalid_input", named[i]) if i in named else next(scored)
        for i in range(len(samples))
    ]


def _validated(row: Row, how: RowMapping) -> tuple[Sample | None, str | None, Result | None]:
    """The row's sample, the verifier it names, or its ``invalid_input`` result."""
    try:
        wire = to_sample(row, how)
    except SpecError as exc:
        return None, None, failure("invalid_input", str(exc))
    verifier = wire.get("verifier") if isinstance(wire.get("verifier"), str) else None
    try:
        return Sample.model_validate(wire), verifier, None
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in validation_errors(exc)
        )
        return None, verifier, failure("invalid_input", message)


async def score_rows(rows: list[Row], first: int, scorer: Scorer, how: RowMapping) -> list[Row]:
    """``rows`` (input positions from ``first``) with their result columns."""
    checked = [_validated(row, how) for row in rows]
    valid = [sample for sample, _, early in checked if early is None and sample is not None]
    scored = iter(await score_samples(scorer, valid))
    out = []
    for index, (row, (_, verifier, early)) in enumerate(zip(rows, checked, strict=True)):
        result = early if early is not None else next(scored)
        out.append(
            {
                **row,
                "raas_row": first + index,
                "raas_verifier": verifier or result.get("verifier"),
                "raas_reward": result.get("reward"),
                "raas_status": result.get("status"),
                "raas_error": result.get("error"),
                "raas_components": result.get("components") or {},
                "raas_details": result.get("details") or {},
            }
        )
    return out


def result_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("raas_row", pa.int64()),
            ("raas_verifier", pa.string()),
            ("raas_reward", pa.float64()),
            ("raas_status", pa.string()),
            ("raas_error", pa.string()),
            ("raas_components", pa.string()),
            ("raas_details", pa.string()),
        ]
    )


@dataclass
class Job:
    """One ``raas score`` run."""

    source: Path
    out: Path
    how: RowMapping = field(default_factory=RowMapping)
    batch_size: int = 512
    inflight: int = 4
    part_rows: int = 2048
    overwrite: bool = False
    progress: bool = True


@dataclass
class Report:
    total: int
    already: int
    scored: int
    seconds: float
    statuses: Counter[str]

    @property
    def rate(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def open_output(job: Job) -> Sink:
    extra = result_schema() if is_parquet(job.out) else None
    sink = open_sink(
        job.out,
        parquet_schema(job.source),
        extra,
        part_rows=job.part_rows,
        json_columns=JSON_COLUMNS,
        fresh=job.overwrite,
    )
    last = sink.last_row() if isinstance(sink, JsonlSink) else None
    if last is not None and last.get("raas_row") != sink.done - 1:
        sink.abort()
        raise TableError(f"{job.out} is not a raas score output of this input: --overwrite")
    return sink


def _batches(job: Job, start: int) -> Iterator[list[Row]]:
    return read_batches(job.source, start, job.batch_size)


async def run(job: Job, scorer: Scorer) -> Report:
    """Score what ``job.out`` does not hold yet; write it in order; close the output."""
    from tqdm import tqdm

    total = count_rows(job.source)
    sink = open_output(job)
    if sink.done > total:
        sink.abort()
        raise TableError(f"{job.out} holds {sink.done} rows, more than {job.source}'s {total}")
    statuses: Counter[str] = Counter()
    bar = tqdm(
        total=total,
        initial=sink.done,
        unit="row",
        disable=not job.progress,
        dynamic_ncols=True,
        desc="raas score",
    )
    start, position = time.perf_counter(), sink.done
    already = sink.done
    pending: deque[asyncio.Future[list[Row]]] = deque()
    batches = _batches(job, sink.done)

    def write(rows: list[Row]) -> None:
        sink.write(rows)
        statuses.update(row["raas_status"] for row in rows)
        bar.update(len(rows))
        bar.set_postfix_str(" ".join(f"{k}={statuses[k]}" for k in sorted(statuses)), refresh=False)

    try:
        while (rows := await asyncio.to_thread(next, batches, None)) is not None:
            pending.append(asyncio.ensure_future(score_rows(rows, position, scorer, job.how)))
            position += len(rows)
            if len(pending) >= job.inflight:
                write(await pending.popleft())
        while pending:
            write(await pending.popleft())
    except BaseException:
        for future in pending:
            future.cancel()
        sink.abort()  # what was written stays, to be resumed
        raise
    finally:
        bar.close()
    sink.finish()
    return Report(total, already, position - already, time.perf_counter() - start, statuses)
