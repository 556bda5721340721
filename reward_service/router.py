"""The router: validate → plan (dedupe) → dispatch to backends → combine → metrics → summary.

Long loops over a batch give the event loop a turn every ``_SLICE`` samples, so health probes
and other requests are served while a 65,536-sample batch is planned or answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from reward_service.contract import Outcome, Task
from reward_service.errors import (
    MAX_REPORTED,
    OverloadedError,
    RequestError,
    UnknownNameError,
    error_text,
    validation_errors,
)
from reward_service.limits import too_big
from reward_service.metrics import Metrics, Monitored, flag
from reward_service.registry import FORMATS, VERIFIERS, Context, NoParams, Params, VerifierSpec
from reward_service.results import result, vetted
from reward_service.routes import RouteTable
from reward_service.schemas import Reflection, RewardRequest, Sample
from reward_service.settings import Settings
from reward_service.summary import (
    DEFAULT_REFLECTION,
    Seen,
    SourceSummaries,
    correct,
    perception,
    reflections,
)

logger = logging.getLogger("raas.router")
_SLICE = 2048


class Backend(Protocol):
    """Somewhere tasks are scored: the local pool, a remote worker, a model worker.

    ``run`` answers one outcome per task, in order, and does not raise: a failure is an outcome
    with its status. The one exception is :class:`OverloadedError` before any work starts (the
    request is refused with 429); the router turns anything else into ``error`` outcomes.
    """

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]: ...


@dataclass(slots=True)
class _Plan:
    """Per sample: the index of its unique task, or an outcome decided without one."""

    task_index: list[int | None]
    early: dict[int, Outcome]
    tasks: list[Task]


async def _yield_every(index: int) -> None:
    if index % _SLICE == _SLICE - 1:
        await asyncio.sleep(0)


class Router:
    def __init__(
        self, settings: Settings, backends: Mapping[str, Backend], metrics: Metrics
    ) -> None:
        self.settings = settings
        self.backends = dict(backends)  # "rules" → the pool or rule workers, "model" → models
        self.metrics = metrics
        self.routes = RouteTable(settings.routes)

    async def score(self, request: RewardRequest) -> dict[str, Any]:
        """The ``/reward`` answer: one result per sample in request order, and the summary."""
        judged = await self._judge(request)
        results, summary = [], SourceSummaries()
        for index, (sample, (outcome, reward)) in enumerate(
            zip(request.samples, judged, strict=True)
        ):
            answer = result(sample, outcome, reward)
            results.append(answer)
            mode = self.reflection(request, sample.data_source)
            seen = Seen(
                len(sample.response), self._reflects(sample, outcome, mode), outcome.tokens,
                sample.truncated,
            )  # fmt: skip
            summary.add(sample.data_source, seen, answer, mode)
            await _yield_every(index)
        return {"results": results, "summary": {"by_source": summary.render()}}

    async def run(self, request: RewardRequest) -> list[Outcome]:
        """One outcome per sample, in request order, with the metrics recorded."""
        return [outcome for outcome, _ in await self._judge(request)]

    async def _judge(self, request: RewardRequest) -> list[tuple[Outcome, float | None]]:
        """Per sample: its outcome and, if ``ok``, its combined reward."""
        samples = request.samples
        if len(samples) > self.settings.max_samples:
            raise RequestError([{
                "loc": ["samples"], "type": "too_long",
                "msg": f"{len(samples)} samples; at most {self.settings.max_samples} per request",
            }])  # fmt: skip
        plan = await self._plan(samples, Context(request.step, request.total_steps))
        scored = await self._dispatch(plan.tasks)
        judged = [
            vetted(sample, plan.early[index] if task_index is None else scored[task_index])
            for index, (sample, task_index) in enumerate(zip(samples, plan.task_index, strict=True))
        ]
        await self._record(request, judged, plan, scored)
        return judged

    async def _plan(self, samples: Sequence[Sample], context: Context) -> _Plan:
        params_cache: dict[tuple[str, str], tuple[Params, str] | list[dict[str, Any]]] = {}
        unique: dict[tuple[Any, ...], int] = {}
        plan = _Plan([], {}, [])
        errors: list[dict[str, Any]] = []
        for index, sample in enumerate(samples):
            await _yield_every(index)
            checked = self._params(sample, index, params_cache, errors)
            gt_key = _json_key(sample.ground_truth)
            early = self._precheck(sample, gt_key, checked[0]) if checked else None
            if checked is None or early is not None or gt_key is None:
                plan.task_index.append(None)
                if early is not None:
                    plan.early[index] = early
                continue
            spec, params, params_key = checked
            key: tuple[Any, ...] = (
                sample.verifier,
                params_key,
                gt_key,
                sample.format,
                sample.response,
            )
            prompt = sample.prompt if spec.reads_prompt else None  # sent only where it is read
            if spec.reads_prompt:  # the verdict may depend on it: no sharing across prompts
                key = (*key, prompt)
            if spec.backend != "rules":  # model verifiers also read the images
                key = (*key, *sample.images)
            if key not in unique:
                unique[key] = len(plan.tasks)
                plan.tasks.append(Task(
                    spec.name, params, sample.response, gt_key, sample.format, context,
                    prompt, tuple(sample.images), params_key=params_key,
                ))  # fmt: skip
            plan.task_index.append(unique[key])
        if errors:
            raise RequestError(errors[:MAX_REPORTED])
        return plan

    def _params(
        self,
        sample: Sample,
        index: int,
        cache: dict[tuple[str, str], tuple[Params, str] | list[dict[str, Any]]],
        errors: list[dict[str, Any]],
    ) -> tuple[VerifierSpec, Params, str] | None:
        where = ("samples", index)
        if not self.routes.apply(sample):
            errors.append(self.routes.missing(sample, index))
            return None
        verifier = sample.verifier or ""  # set: routed above
        try:
            spec = VERIFIERS.get(verifier)
            if sample.format is not None:
                FORMATS.get(sample.format)
        except UnknownNameError as exc:
            field = "verifier" if exc.kind == "verifier" else "format"
            errors.append({"loc": [*where, field], "msg": str(exc), "type": "unknown_name"})
            return None
        try:
            text = orjson.dumps(sample.params, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError as exc:  # an integer past 64 bits
            errors.append({"loc": [*where, "params"], "msg": str(exc), "type": "not_serialisable"})
            return None
        key = (verifier, text)
        if key not in cache:
            try:
                params = spec.params.model_validate(sample.params)
                cache[key] = (params, params.model_dump_json())
            except ValidationError as exc:
                cache[key] = validation_errors(exc)
        found = cache[key]
        if isinstance(found, list):
            errors.extend({**e, "loc": [*where, "params", *e["loc"]]} for e in found)
            return None
        return spec, *found

    def _precheck(self, sample: Sample, gt_key: str | None, spec: VerifierSpec) -> Outcome | None:
        if gt_key is None:
            return Outcome("invalid_input", error="ground_truth is not JSON-serialisable")
        return too_big(sample.response, gt_key, sample.prompt, spec.reads_prompt, self.settings)

    async def format_alone(self, sample: Sample) -> float | None:
        """The format score of a sample whose accuracy could not be had (``/judge`` counts it as
        V-Triune did), scored in the pool; ``None`` for a response over the size limit."""
        if sample.format is None or len(sample.response) > self.settings.max_response_chars:
            return None
        task = Task(
            sample.verifier or "",
            NoParams(),
            sample.response,
            format=sample.format,
            format_only=True,
        )
        outcome = (await self._run_on("rules", [task]))[0]
        return outcome.format

    def reflection(self, request: RewardRequest, data_source: str) -> Reflection:
        """The summary's reflection mode for a source: the request's, else its route's, else
        ``raas``."""
        return request.reflection or self.routes.reflection(data_source) or DEFAULT_REFLECTION

    def _reflects(self, sample: Sample, outcome: Outcome, mode: Reflection) -> bool | None:
        """From the backend when it looked; else scanned here, within the size limit only, and
        kept on the outcome (the metrics and the summary both ask)."""
        looked = outcome.reflects_vtriune if mode == "vtriune" else outcome.reflects
        if looked is not None:
            return looked
        if len(sample.response) > self.settings.max_response_chars:
            return None
        outcome.reflects, outcome.reflects_vtriune = reflections(sample.response)
        return outcome.reflects_vtriune if mode == "vtriune" else outcome.reflects

    async def _dispatch(self, tasks: list[Task]) -> list[Outcome]:
        """Score unique tasks on their backends concurrently, each sorted by ground truth so that
        a parse is reused; a verifier with no backend here is ``unavailable``. If one backend
        refuses the batch (overloaded), the others stop too."""
        by_backend: dict[str, list[int]] = {}
        for index, task in enumerate(tasks):
            by_backend.setdefault(VERIFIERS.get(task.verifier).backend, []).append(index)
        outcomes: list[Outcome | None] = [None] * len(tasks)

        async def run(backend: str, indices: list[int]) -> None:
            indices.sort(key=lambda i: (tasks[i].verifier, tasks[i].ground_truth))
            scored = await self._run_on(backend, [tasks[i] for i in indices])
            for index, outcome in zip(indices, scored, strict=True):
                outcomes[index] = outcome

        jobs = [asyncio.ensure_future(run(name, found)) for name, found in by_backend.items()]
        try:
            await asyncio.gather(*jobs)
        except BaseException:
            for job in jobs:
                job.cancel()
            raise
        return [o if o is not None else Outcome("error", error="not scored") for o in outcomes]

    async def _run_on(self, backend: str, tasks: list[Task]) -> list[Outcome]:
        if backend not in self.backends:
            error = f"no {backend} backend is configured for verifier {tasks[0].verifier!r}"
            return [Outcome("unavailable", error=error) for _ in tasks]
        try:
            outcomes = await self.backends[backend].run(tasks)
        except OverloadedError:
            raise
        except Exception as exc:  # a backend bug fails its tasks, never the batch
            logger.exception("the %s backend failed", backend)
            error = error_text(exc, f"{backend} backend failed")
            return [Outcome("error", error=error) for _ in tasks]
        if len(outcomes) != len(tasks):
            error = f"{backend} backend answered {len(outcomes)} outcomes for {len(tasks)} tasks"
            return [Outcome("error", error=error) for _ in tasks]
        return outcomes

    async def _record(
        self,
        request: RewardRequest,
        judged: list[tuple[Outcome, float | None]],
        plan: _Plan,
        scored: list[Outcome],
    ) -> None:
        """The batch's metrics, ``_SLICE`` samples (then tasks) at a time."""
        m, samples = self.metrics, request.samples
        m.batch_size.observe(len(samples))
        m.deduplicated.inc(sum(i is not None for i in plan.task_index) - len(plan.tasks))
        for lo in range(0, len(samples), _SLICE):
            self._record_samples(request, samples[lo : lo + _SLICE], judged[lo : lo + _SLICE])
            await asyncio.sleep(0)
        for lo in range(0, len(plan.tasks), _SLICE):
            m.observe_tasks(plan.tasks[lo : lo + _SLICE], scored[lo : lo + _SLICE])
            await asyncio.sleep(0)

    def _record_samples(
        self,
        request: RewardRequest,
        samples: Sequence[Sample],
        judged: list[tuple[Outcome, float | None]],
    ) -> None:
        counts: Counter[tuple[str, str, str]] = Counter()
        rewards: dict[str, list[float]] = {}
        monitored: defaultdict[str, Monitored] = defaultdict(Monitored)
        for sample, (outcome, reward) in zip(samples, judged, strict=True):
            counts[(sample.data_source, sample.verifier or "", outcome.status)] += 1
            seen = monitored[sample.data_source]
            seen.chars.append(len(sample.response))
            if outcome.tokens is not None:
                seen.tokens.append(outcome.tokens)
            if sample.truncated is not None:
                seen.truncated.append(sample.truncated)
            mode = self.reflection(request, sample.data_source)
            right = "unscored"
            if reward is not None and outcome.accuracy is not None:
                right = flag(correct(outcome.accuracy, mode))
                rewards.setdefault(sample.data_source, []).append(reward)
                for name, value in perception(outcome.details).items():
                    seen.perception[name].append(value)
                seen.chars_by_correct[right].append(len(sample.response))
                if outcome.tokens is not None:
                    seen.tokens_by_correct[right].append(outcome.tokens)
            if (reflecting := self._reflects(sample, outcome, mode)) is not None:
                seen.reflection[(flag(reflecting), right)] += 1
        self.metrics.record_samples(counts, rewards)
        self.metrics.record_monitoring(monitored)


def _json_key(value: Any) -> str | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return None
