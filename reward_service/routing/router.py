"""The router: validate → plan (dedupe) → dispatch to backends → combine → metrics → summary.

Long loops over a batch give the event loop a turn every ``_SLICE`` samples, so health probes
and other requests are served while a 65,536-sample batch is planned or answered.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reward_service.contract.admission import (
    NOT_SERIALISABLE_GROUND_TRUTH,
    Admissions,
    Admitted,
    canonical,
    located,
    too_big,
)
from reward_service.contract.errors import (
    MAX_REPORTED,
    OverloadedError,
    RequestError,
    detail,
    error_text,
)
from reward_service.contract.monitoring import reflections
from reward_service.contract.registry import VERIFIERS, Context, VerifierSpec
from reward_service.contract.schemas import Reflection, RewardRequest, Sample
from reward_service.contract.shapes import RewardAnswer, SampleResult
from reward_service.contract.task import Backend, Outcome, Task
from reward_service.metrics import Metrics
from reward_service.routing.results import result, vetted
from reward_service.routing.routes import RouteTable
from reward_service.routing.summary import DEFAULT_REFLECTION, SourceColumns, SourceSummaries
from reward_service.settings import Settings

logger = logging.getLogger("raas.router")
_SLICE = 2048
_VERIFIER = operator.attrgetter("verifier")
_SORT_KEY = operator.attrgetter("verifier", "ground_truth")  # a backend's tasks, grouped


@dataclass(slots=True)
class _Plan:
    """Per sample: the index of its unique task, or an outcome decided without one."""

    task_index: list[int | None]
    early: dict[int, Outcome]
    tasks: list[Task]


class Router:
    def __init__(
        self, settings: Settings, backends: Mapping[str, Backend], metrics: Metrics
    ) -> None:
        self.settings = settings
        self.backends = dict(backends)  # "rules" → the pool or rule workers, "model" → models
        self.metrics = metrics
        self.routes = RouteTable(settings.routes)

    async def score(self, request: RewardRequest) -> RewardAnswer:
        """The ``/reward`` answer: one result per sample in request order, and the summary."""
        _, results, summaries = await self._answer(request)
        return {"results": results, "summary": {"by_source": summaries.render()}}

    async def run(self, request: RewardRequest) -> list[Outcome]:
        """One outcome per sample, in request order, with the metrics recorded."""
        judged, _, _ = await self._answer(request)
        return [outcome for outcome, _ in judged]

    async def _answer(
        self, request: RewardRequest
    ) -> tuple[list[tuple[Outcome, float | None]], list[SampleResult], SourceSummaries]:
        """Judge the batch, then in one pass over its samples build each result and the source
        columns that the summary and the metrics are both read from; record the metrics.
        Per sample its outcome and, if ``ok``, its combined reward; the results; the summaries."""
        samples = request.samples
        plan, scored = await self._judge(request)
        early = plan.early
        judged: list[tuple[Outcome, float | None]] = []
        results, summaries = [], SourceSummaries()
        sources: dict[str, tuple[Reflection, SourceColumns]] = {}
        for index, (sample, found) in enumerate(zip(samples, plan.task_index, strict=True)):
            outcome, reward = vetted(sample, early[index] if found is None else scored[found])
            judged.append((outcome, reward))
            if (known := sources.get(source := sample.data_source)) is None:
                mode = self.reflection(request, source)
                known = sources[source] = mode, summaries.columns(source, mode)
            mode, columns = known
            answer = result(sample, outcome, reward)
            results.append(answer)
            columns.add(
                answer,
                len(sample.response),
                self._reflects(sample, outcome, mode),
                outcome.tokens,
                sample.truncated,
            )
            if index % _SLICE == _SLICE - 1:
                await asyncio.sleep(0)
        await self._record(len(samples), summaries, plan, scored)
        return judged, results, summaries

    async def _judge(self, request: RewardRequest) -> tuple[_Plan, list[Outcome]]:
        """The batch's plan and its unique tasks' outcomes."""
        samples = request.samples
        if len(samples) > self.settings.max_samples:
            msg = f"{len(samples)} samples; at most {self.settings.max_samples} per request"
            raise RequestError([detail(["samples"], msg, "too_long")])
        plan = await self._plan(samples, Context(request.step, request.total_steps))
        return plan, await self._dispatch(plan.tasks)

    async def _plan(self, samples: Sequence[Sample], context: Context) -> _Plan:
        admissions = Admissions()
        unique: dict[tuple[Any, ...], int] = {}
        plan = _Plan([], {}, [])
        task_index, tasks = plan.task_index, plan.tasks
        errors: list[dict[str, Any]] = []
        for index, sample in enumerate(samples):
            if index % _SLICE == _SLICE - 1:
                await asyncio.sleep(0)
            admitted = self._admitted(sample, index, admissions, errors)
            try:
                gt_key: str | None = canonical(sample.ground_truth)
            except TypeError:  # JSONEncodeError: an integer past 64 bits (invalid_input)
                gt_key = None
            early = None if admitted is None else self._precheck(sample, gt_key, admitted.spec)
            if admitted is None or early is not None or gt_key is None:
                task_index.append(None)
                if early is not None:
                    plan.early[index] = early
                continue
            spec, params_key = admitted.spec, admitted.params_key
            response = sample.response
            key: tuple[Any, ...] = (spec.name, params_key, gt_key, sample.format, response)
            prompt = sample.prompt if spec.reads_prompt else None  # sent only where it is read
            if spec.reads_prompt:  # the verdict may depend on it: no sharing across prompts
                key = (*key, prompt)
            if spec.backend != "rules":  # model verifiers also read the images
                key = (*key, *sample.images)
            if (found := unique.get(key)) is None:
                found = unique[key] = len(tasks)
                tasks.append(
                    Task(
                        spec.name,
                        admitted.params,
                        response,
                        gt_key,
                        sample.format,
                        context,
                        prompt,
                        tuple(sample.images) if sample.images else (),
                        params_key=params_key,
                    )
                )
            task_index.append(found)
        if errors:
            raise RequestError(errors[:MAX_REPORTED])
        return plan

    def _admitted(
        self, sample: Sample, index: int, admissions: Admissions, errors: list[dict[str, Any]]
    ) -> Admitted | None:
        """The sample's route applied, then its (verifier, format, params) admitted (once per
        batch each); ``None`` with its errors added if refused."""
        if not self.routes.apply(sample):
            errors.append(self.routes.missing(sample, index))
            return None
        found = admissions.admit(sample.verifier or "", sample.format, sample.params)  # routed
        if isinstance(found, list):
            errors.extend(located(found, ["samples", index]))
            return None
        return found

    def _precheck(self, sample: Sample, gt_key: str | None, spec: VerifierSpec) -> Outcome | None:
        if gt_key is None:
            return Outcome("invalid_input", error=NOT_SERIALISABLE_GROUND_TRUTH)
        return too_big(sample.response, gt_key, sample.prompt, spec.reads_prompt, self.settings)

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
        order = list(map(_SORT_KEY, tasks))  # (verifier, ground truth): C-level, no call a task
        family = {name: VERIFIERS.get(name).backend for name in set(map(_VERIFIER, tasks))}
        by_backend: dict[str, list[int]] = {}
        if len(set(family.values())) == 1:  # one family (most batches): no loop over tasks
            by_backend[next(iter(family.values()))] = list(range(len(tasks)))
        else:
            for index, (name, _) in enumerate(order):
                by_backend.setdefault(family[name], []).append(index)
        outcomes: list[Outcome | None] = [None] * len(tasks)

        async def run(backend: str, indices: list[int]) -> None:
            indices.sort(key=order.__getitem__)
            scored = await self.run_on(backend, [tasks[i] for i in indices])
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

    async def run_on(self, backend: str, tasks: list[Task]) -> list[Outcome]:
        """``tasks`` scored on one family's backend (``rules``, ``model``), one outcome each:
        ``unavailable`` where none is configured, ``error`` where it failed; only
        :class:`OverloadedError` is raised."""
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
        self, size: int, summaries: SourceSummaries, plan: _Plan, scored: list[Outcome]
    ) -> None:
        """The batch's metrics: its samples by source, then its tasks ``_SLICE`` at a time."""
        m = self.metrics
        m.batch_size.observe(size)
        m.deduplicated.inc(sum(i is not None for i in plan.task_index) - len(plan.tasks))
        m.record_sources(summaries.sources)
        for lo in range(0, len(plan.tasks), _SLICE):
            await asyncio.sleep(0)
            m.observe_tasks(plan.tasks[lo : lo + _SLICE], scored[lo : lo + _SLICE])
