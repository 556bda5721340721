"""The configured models, one batcher each, behind the router's Backend protocol.

Runs in-process in ``raas serve`` (when ``RAAS_MODELS`` is set) or inside a model worker (``raas
worker model``); a backend like the pool's and the remote one, so "worker" names only that
service. Models load in the background, one after another, so the rule verifiers serve at once;
a task for a model still loading waits for it. A model that fails to load stays ``unavailable``
with its error, and the other models (and the router) keep serving.

Per task: check it names a configured model of a fitting kind → prepare (tokenise, decode
images; on a thread) → the model's batcher → reward in [0, 1] and the format score. One bad task
never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from reward_service.contract.errors import MAX_MESSAGE, InvalidInputError, error_text
from reward_service.contract.registry import FORMATS, VERIFIERS, unit_interval
from reward_service.contract.task import Failure, Outcome, Task
from reward_service.metrics import Metrics
from reward_service.models.base import Item, Scorer
from reward_service.models.batcher import Batcher
from reward_service.models.config import ModelSpec

logger = logging.getLogger("raas.models")


#: Which class loads each model kind (module in ``reward_service.models``, class); a ``bt`` model
#: with a ``remote_url`` is served by a vLLM server instead.
SCORERS = {"bt": "bt:BTScorer", "bt_vision": "bt_vision:VisionScorer", "bmas": "bmas:BMASScorer"}
REMOTE_SCORER = "vllm:VLLMServerScorer"
TEXT_ONLY_KINDS = frozenset({"bt"})  # judge a reply to a prompt they cannot fully see


def build_scorer(spec: ModelSpec) -> Scorer[Any]:
    """Load ``spec``'s model (blocking: run it on a thread)."""
    target = REMOTE_SCORER if spec.remote_url is not None else SCORERS[spec.kind]
    module, _, name = target.partition(":")
    scorer: Scorer[Any] = getattr(
        importlib.import_module(f"reward_service.models.{module}"), name
    ).load(spec)
    return scorer


@dataclass(slots=True, eq=False)
class LoadedModel:
    spec: ModelSpec
    state: Literal["loading", "loaded", "failed"] = "loading"
    error: str | None = None
    scorer: Scorer[Any] | None = None
    batcher: Batcher[Item, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # tokenising on one thread per model: fast tokenizers may refuse concurrent use
    preparer: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))


class ModelBackend:
    """Scores ``rm`` / ``bmas`` tasks on the models it holds, in this process (a ``Backend``)."""

    def __init__(self, specs: Sequence[ModelSpec], metrics: Metrics | None = None) -> None:
        self.models = {spec.name: LoadedModel(spec) for spec in specs}
        self.metrics = metrics if metrics is not None else Metrics()
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._loader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for name in self.models:
            self.metrics.model_loaded.labels(name).set(0)
        self._loader = asyncio.create_task(self._load_all(), name="load-models")

    async def close(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loader
        for model in self.models.values():
            if not model.done.is_set():  # never loaded: callers waiting for it must not hang
                model.state, model.error = "failed", "the model worker shut down"
                model.done.set()
            if model.batcher is not None:
                await model.batcher.close()
            close = getattr(model.scorer, "close", None)
            if close is not None:
                close()
            model.preparer.shutdown(wait=False, cancel_futures=True)
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)

    def readiness(self) -> tuple[dict[str, Any], bool]:
        """Ready once every model has finished loading, failed ones included (they answer
        ``unavailable`` with their error; the body names them)."""
        body = {name: self._describe(model) for name, model in self.models.items()}
        return {"models": body}, all(m.state != "loading" for m in self.models.values())

    @staticmethod
    def _describe(model: LoadedModel) -> dict[str, Any]:
        described: dict[str, Any] = {"kind": model.spec.kind, "state": model.state}
        if model.error is not None:
            described["error"] = model.error
        if model.batcher is not None:
            described["queue"] = model.batcher.depth
        return described

    async def _load_all(self) -> None:
        for model in self.models.values():  # one at a time: disk and GPU memory are shared
            await self._load(model)

    async def _load(self, model: LoadedModel) -> None:
        spec = model.spec
        try:
            scorer = await asyncio.to_thread(build_scorer, spec)
        except Exception as exc:
            model.state, model.error = "failed", error_text(exc)
            logger.error("model %s (%s) failed to load: %s", spec.name, spec.path, model.error)
        else:
            model.scorer = scorer
            model.batcher = Batcher(
                spec.name,
                scorer.forward,
                max_tokens=spec.max_tokens_per_batch,
                max_wait_s=spec.max_wait_ms / 1000,
                max_queue=spec.max_queue,
                max_queue_bytes=spec.max_queue_bytes,
                executor=self._executor(spec),
                metrics=self.metrics,
            )
            model.batcher.start()
            model.state = "loaded"
            self.metrics.model_loaded.labels(spec.name).set(1)
            logger.info("model %s (%s) loaded from %s", spec.name, spec.kind, spec.path)
        finally:
            model.done.set()

    def _executor(self, spec: ModelSpec) -> ThreadPoolExecutor:
        """One forward thread per device (models on one GPU take turns, never contend);
        a remote model gets its own, since it waits on the network."""
        key = f"remote:{spec.name}" if spec.remote_url else spec.device
        if key not in self._executors:
            self._executors[key] = ThreadPoolExecutor(1, thread_name_prefix=f"raas-{key}")
        return self._executors[key]

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(tasks)
        groups: dict[str, list[int]] = {}
        for index, task in enumerate(tasks):
            name, early = self._route(task)
            if early is not None:
                outcomes[index] = early
            else:
                groups.setdefault(name, []).append(index)

        async def score(name: str, indices: list[int]) -> None:
            scored = await self._score(self.models[name], [tasks[i] for i in indices])
            for index, outcome in zip(indices, scored, strict=True):
                outcomes[index] = outcome

        await asyncio.gather(*(score(name, indices) for name, indices in groups.items()))
        return [o if o is not None else Outcome("error", error="not scored") for o in outcomes]

    def _route(self, task: Task) -> tuple[str, Outcome | None]:
        """The model a task names, or the outcome it gets without one."""
        if task.verifier not in VERIFIERS or VERIFIERS.get(task.verifier).backend != "model":
            return "", Outcome("error", error=f"verifier {task.verifier!r} is not a model verifier")
        name = str(getattr(task.params, "model", ""))
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            error = f"no model {name!r} is configured here; configured: {known}"
            return name, Outcome("unavailable", error=error)
        kind = self.models[name].spec.kind
        kinds = VERIFIERS.get(task.verifier).kinds
        if kind not in kinds:
            error = f"verifier {task.verifier!r} needs a model of kind {' or '.join(sorted(kinds))}"
            return name, Outcome("invalid_input", error=f"{error}; {name!r} is {kind!r}")
        if task.images and kind in TEXT_ONLY_KINDS and not getattr(task.params, "ignore_images", 0):
            error = (
                f"model {name!r} ({kind}) reads text only and this sample has {len(task.images)} "
                "image(s): score it with a bt_vision model (a route's with_images variant), or "
                "set params.ignore_images"
            )
            return name, Outcome("invalid_input", error=error)
        return name, None

    async def _score(self, model: LoadedModel, tasks: list[Task]) -> list[Outcome]:
        start = time.perf_counter()
        await model.done.wait()
        if model.scorer is None or model.batcher is None:
            error = f"model {model.spec.name!r} failed to load: {model.error}"
            return [Outcome("unavailable", error=error) for _ in tasks]
        scorer, batcher = model.scorer, model.batcher
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(model.preparer, _prepare_all, scorer, tasks)
        results = iter(await batcher.submit([p for p in prepared if isinstance(p, Item)]))
        outcomes = [
            p if isinstance(p, Outcome) else _finish(scorer, task, next(results))
            for task, p in zip(tasks, prepared, strict=True)
        ]
        seconds = time.perf_counter() - start
        for outcome in outcomes:
            outcome.seconds = seconds
        return outcomes


def _prepare_all(scorer: Scorer[Any], tasks: list[Task]) -> list[Item | Outcome]:
    prepared: list[Item | Outcome] = []
    for task in tasks:
        try:
            prepared.append(scorer.prepare(task))
        except InvalidInputError as exc:
            prepared.append(Outcome("invalid_input", error=str(exc)[:MAX_MESSAGE]))
        except Exception as exc:
            prepared.append(Outcome("error", error=error_text(exc)))
    return prepared


def _finish(scorer: Scorer[Any], task: Task, raw: Any) -> Outcome:
    """A raw model result → the outcome: the model verifier's reward, the format score."""
    if isinstance(raw, Failure):
        return Outcome.of(raw)
    try:
        score = VERIFIERS.get(task.verifier).fn(raw, task.params, scorer.spec)
        accuracy = unit_interval(score.accuracy, f"verifier {task.verifier!r}")
        fmt = None
        if task.format is not None:
            fmt = unit_interval(
                FORMATS.get(task.format).fn(task.response), f"format {task.format!r}"
            )
    except Exception as exc:
        return Outcome("error", error=error_text(exc))
    return Outcome("ok", accuracy, fmt, score.details)
