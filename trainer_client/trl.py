"""raas as a TRL reward function: ``GRPOTrainer(reward_funcs=AsyncRaasRewardFunction(url), …)``.

TRL calls ``reward_func(prompts=…, completions=…, completion_ids=…, trainer_state=…,
log_extra=…, log_metric=…, **dataset_columns)`` once per generation batch and takes one float
per completion, ``None`` meaning "not applicable" (TRL turns it into NaN and leaves it out of the
reward sum). :class:`AsyncRaasRewardFunction` has an ``async __call__``, which TRL awaits on its
event loop, concurrently with the other async reward functions (``GRPOTrainer``) or with
generation (``AsyncGRPOTrainer``); :class:`RaasRewardFunction` blocks, for code that calls it
directly. Both build the same request. Each row's reward spec comes from its dataset columns,
so one dataset can mix tasks:

=================  ==========================================================================
column             meaning (a missing column falls back to the constructor's default)
=================  ==========================================================================
``verifier``       raas verifier name (default ``"math"``; ``None``: the server's routes pick)
``ground_truth``   the answer; ``solution`` (TRL's own math examples) is read when absent
``data_source``    groups metrics, picks a route (default ``"trl"``)
``params``         verifier params: a dict or a JSON string; ``None`` values are dropped
                   (a ``datasets`` struct column fills keys missing in a row with ``None``)
``format``         format checker, e.g. ``"think_answer"``; ``weights`` ``{"accuracy", "format"}``
``images``         the row's images (TRL's VLM column), else ``image`` (one), else the image
                   parts of the prompt: sent as raas's ``images`` (:mod:`trainer_client.images`)
=================  ==========================================================================

Completions and prompts become text by :mod:`trainer_client.chat`: thinking that TRL's response
parser moved to ``reasoning_content`` returns inside ``<think>…</think>`` before the answer,
tool results are not part of the response. A sample that cannot be sent (an image over
``max_image_bytes``, a file that cannot be read, a completion that is not text or messages) is
``None`` with a warning naming it, and the others are scored; TRL's completions table gets a
``<name>_status`` column (``ok``, or raas's status and error).

**Step and logs.** ``GRPOTrainer`` passes its ``trainer_state`` (``step``/``total_steps`` from
it, so schedules such as the dynamic IoU threshold follow training) and ``log_metric``
(``<name>/unscored_fraction`` and raas's per-source curves ``<name>/<metric>/<data_source>``:
reward, accuracy, format, response length, reflection ratio, unscored, and for perception
sources IoU, mAP, the IoU threshold in effect and the parsed share). ``AsyncGRPOTrainer`` passes
neither. Then, with ``total_steps`` and ``samples_per_step`` set, the step is counted in this
process (:mod:`trainer_client.progress`: ``start_step + samples before // samples_per_step``),
else no step is sent and schedules stay at their first value; the curves go to this module's
logger at INFO and, with ``summary_path``, to a JSONL file. Either way one warning per process
says so. The object holds configuration only and opens its :class:`RewardClient` lazily in each
process, so it pickles into data-parallel workers and TRL's spawned rollout process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer_client.chat import prompt_images, prompt_text, response_text
from trainer_client.client import RewardClient, ScoredBatch
from trainer_client.images import MAX_IMAGE_BYTES, ImageEncoder, ImageEncodingError
from trainer_client.progress import StepCounter
from trainer_client.summary import log_summary

logger = logging.getLogger(__name__)

_SPEC_COLUMNS = ("verifier", "ground_truth", "data_source", "params", "format", "weights")
_TRL_ARGUMENTS = ("completion_ids", "log_extra", "environments", "trainer_state", "log_metric")
Metric = Callable[[str, float], None]
Extra = Callable[[str, list[Any]], None]


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise TypeError(f"params must be a dict or a JSON object string, not {value!r:.80}")
    return {key: item for key, item in value.items() if item is not None}


def row_images(row: Mapping[str, Any], prompt: Any) -> list[Any]:
    """A row's images: its ``images`` column, else its ``image``, else its prompt's image parts
    (where TRL put the column's images when it built the prompt: never both)."""
    if "images" in row or "image" in row:
        value = row["images"] if "images" in row else row["image"]
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]
    return prompt_images(prompt) if prompt is not None else []


@dataclass
class _Call:
    """One reward call, ready to send: which samples go, where each answer belongs, what TRL
    handed for logging."""

    size: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    step: int | None = None
    total_steps: int | None = None
    log_metric: Metric | None = None
    log_extra: Extra | None = None


@dataclass
class _Local:
    """What one process holds: its client (a live pool never travels), its step count and the
    warnings it has given."""

    pid: int
    client: RewardClient | None = None
    counter: StepCounter | None = None
    warned: set[str] = field(default_factory=set)


class _RaasReward:
    """The request both reward functions send (see the module docstring)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        name: str = "raas",
        verifier: str | None = "math",
        data_source: str = "trl",
        params: Mapping[str, Any] | None = None,
        format_checker: str | None = None,
        weights: Mapping[str, float] | None = None,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        total_steps: int | None = None,
        samples_per_step: int | None = None,
        start_step: int = 0,
        summary_path: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        max_completion_length: int | None = None,
    ) -> None:
        """``max_image_bytes``: the reward model's ``max_image_bytes`` (raas's default).
        ``max_completion_length``: ``GRPOConfig``'s, which TRL does not pass to reward
        functions; with it each sample says ``truncated`` (its ``completion_ids`` fill that
        length: V-Triune's ``length_clip_ratio`` test) for raas's per-source truncation rate.
        ``total_steps``, ``samples_per_step``, ``start_step``: the step where TRL passes no
        trainer state (``AsyncGRPOTrainer``); ``summary_path``: a JSONL file for the per-source
        curves where TRL passes no ``log_metric``. ``api_key``: for a raas started with
        ``RAAS_API_KEYS`` (default ``$RAAS_API_KEY``)."""
        if samples_per_step is not None and samples_per_step < 1:
            raise ValueError("samples_per_step must be at least 1")
        self.url = url
        self.__name__ = name  # TRL logs rewards/<__name__>/mean
        self.defaults: dict[str, Any] = {
            "verifier": verifier,
            "data_source": data_source,
            "params": dict(params or {}),
            "format": format_checker,
            "weights": dict(weights) if weights else None,
        }
        self.max_image_bytes = max_image_bytes
        self.total_steps, self.samples_per_step = total_steps, samples_per_step
        self.start_step, self.summary_path = start_step, summary_path
        self.client_options = {"api_key": api_key, **(client_options or {})}
        if max_completion_length is not None and max_completion_length < 1:
            raise ValueError("max_completion_length must be at least 1")
        self.max_completion_length = max_completion_length
        self._local: _Local | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_local": None}

    @property
    def local(self) -> _Local:
        """This process's state, created on first use (and again after a fork or a spawn)."""
        if self._local is None or self._local.pid != os.getpid():
            self._local = _Local(os.getpid())
        return self._local

    @property
    def client(self) -> RewardClient:
        local = self.local
        if local.client is None:
            local.client = RewardClient(self.url, **self.client_options)
        return local.client

    def sample(
        self, prompt: Any, completion: Any, row: Mapping[str, Any], encode: ImageEncoder
    ) -> dict[str, Any]:
        """The wire sample for one completion; raises ``ValueError``/``TypeError`` saying why
        it cannot be sent."""
        if "ground_truth" not in row and "solution" in row:
            row = {**row, "ground_truth": row["solution"]}
        sample = {key: row.get(key, self.defaults.get(key)) for key in _SPEC_COLUMNS}
        sample["params"] = {**self.defaults["params"], **_params(row.get("params"))}
        sample["response"] = response_text(completion)
        sample["prompt"] = prompt_text(prompt) if prompt is not None else None
        sample["images"] = [encode(image) for image in row_images(row, prompt)] or None
        return {key: value for key, value in sample.items() if value is not None}

    def prepare(
        self, prompts: Sequence[Any], completions: Sequence[Any], columns: dict[str, Any]
    ) -> _Call:
        """One TRL call as the samples to send (those that can be), and the step to send."""
        state = columns.pop("trainer_state", None)
        call = _Call(
            len(completions),
            log_metric=columns.pop("log_metric", None),
            log_extra=columns.pop("log_extra", None),
        )
        cut = self._truncated(columns.get("completion_ids"), len(completions))
        for key in _TRL_ARGUMENTS:
            columns.pop(key, None)
        rows = _rows(columns, len(completions))
        encode = ImageEncoder(self.max_image_bytes)
        for index, (completion, row) in enumerate(zip(completions, rows, strict=True)):
            prompt = prompts[index] if index < len(prompts) else None
            try:
                sample = self.sample(prompt, completion, row, encode)
                if cut is not None:
                    sample["truncated"] = cut[index]
                call.samples.append(sample)
                call.positions.append(index)
            except (ImageEncodingError, TypeError, ValueError) as exc:
                call.errors[index] = f"{type(exc).__name__}: {exc}"
        call.step, call.total_steps = self._step(state, call.size)
        return call

    def _truncated(self, completion_ids: Any, count: int) -> list[bool] | None:
        """Per completion, whether its token ids fill ``max_completion_length``; ``None`` when
        that is not set or TRL passed no ids for every completion."""
        limit = self.max_completion_length
        if limit is None or not isinstance(completion_ids, Sequence):
            return None
        if len(completion_ids) != count:
            return None
        return [isinstance(ids, Sequence) and len(ids) >= limit for ids in completion_ids]

    def _step(self, state: Any, count: int) -> tuple[int | None, int | None]:
        if state is not None:
            return getattr(state, "global_step", None), getattr(state, "max_steps", None) or None
        counting = self.total_steps is not None and self.samples_per_step is not None
        self._warn_once("trainer_state", _NO_STATE_COUNTED if counting else _NO_STATE)
        if not counting:
            return None, None
        local = self.local
        if local.counter is None:
            local.counter = StepCounter(self.samples_per_step, self.start_step)
        return local.counter.step(count), self.total_steps

    def finish(self, call: _Call, batch: ScoredBatch) -> list[float | None]:
        """The rewards in TRL's order (``None`` where unscored or unsent), logged as TRL allows."""
        rewards: list[float | None] = [None] * call.size
        status_at = {index: f"not sent: {error}" for index, error in call.errors.items()}
        for position, result in zip(call.positions, batch.results, strict=True):
            rewards[position] = result.reward
            status_at[position] = "ok" if result.ok else f"{result.status}: {result.error}"
        if call.errors:
            index, error = next(iter(call.errors.items()))
            logger.warning(
                "%s: %d of %d samples not sent to raas (reward None); sample %d: %s",
                self.__name__,
                len(call.errors),
                call.size,
                index,
                error,
            )
        if call.log_extra is not None:
            call.log_extra(f"{self.__name__}_status", [status_at[i] for i in range(call.size)])
        unscored = sum(reward is None for reward in rewards) / call.size if call.size else 0.0
        self._log(
            call,
            {f"{self.__name__}/unscored_fraction": unscored, **batch.scalars(f"{self.__name__}/")},
        )
        return rewards

    def _log(self, call: _Call, values: dict[str, float]) -> None:
        """Through TRL's ``log_metric``; without one, to the log and ``summary_path``."""
        if call.log_metric is not None:
            for key, value in values.items():
                call.log_metric(key, value)
            return
        where = f"and to {self.summary_path}" if self.summary_path else _NO_SUMMARY_PATH
        self._warn_once("log_metric", _NO_LOG_METRIC + where)
        log_summary(logger, values, call.step, "train", self.summary_path)

    def _warn_once(self, what: str, message: str) -> None:
        local = self.local
        if what not in local.warned:
            local.warned.add(what)
            logger.warning("%s: %s", self.__name__, message)


_NO_STATE = (
    "TRL passed no trainer_state (AsyncGRPOTrainer does not), so raas gets no step and "
    "step-driven schedules (the dynamic IoU threshold) stay at their first value; set "
    "total_steps= and samples_per_step= to count the step"
)
_NO_STATE_COUNTED = (
    "TRL passed no trainer_state (AsyncGRPOTrainer does not): the step is counted from the "
    "samples this process scores (start_step + samples // samples_per_step), which runs ahead "
    "of training by the rollouts in flight (up to max_staleness steps)"
)
_NO_LOG_METRIC = (
    "TRL passed no log_metric (AsyncGRPOTrainer does not): raas's per-source curves go to the "
    "logger trainer_client.trl at INFO "
)
_NO_SUMMARY_PATH = "only; set summary_path= to keep them in a JSONL file"


def _rows(columns: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    """Per completion, the dataset columns TRL repeated for it (one value per completion)."""
    per_row = {
        key: values
        for key, values in columns.items()
        if isinstance(values, Sequence) and not isinstance(values, str) and len(values) == count
    }
    return [{key: values[index] for key, values in per_row.items()} for index in range(count)]


class RaasRewardFunction(_RaasReward):
    """A picklable, blocking TRL reward function backed by raas (see the module docstring)."""

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        call = self.prepare(prompts, completions, columns)
        batch = self.client.score_sync(call.samples, step=call.step, total_steps=call.total_steps)
        return self.finish(call, batch)


class AsyncRaasRewardFunction(_RaasReward):
    """The same as :class:`RaasRewardFunction`, awaited: TRL runs it on its event loop, beside
    its other async reward functions and, in ``AsyncGRPOTrainer``, beside generation."""

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        # images are encoded off the loop: AsyncGRPOTrainer generates on the same event loop
        call = await asyncio.to_thread(self.prepare, prompts, completions, columns)
        batch = await self.client.score(call.samples, step=call.step, total_steps=call.total_steps)
        return self.finish(call, batch)
