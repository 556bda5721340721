"""raas as verl's reward (verl 0.9.1: the reward loop, ``verl/experimental/reward_loop``).

verl scores in its reward-loop workers (``reward.num_workers`` Ray actors, 8 by default): each
awaits its reward manager's ``run_single`` once per sample, concurrently on the worker's event
loop — streamed from the agent loop as rollouts finish, or for a chunk of a batch at once. Two
ways to put raas there, both under verl's ``reward`` config:

- :class:`trainer_client.verl_manager.RaasRewardManager` (``reward.reward_manager.source:
  importlib``, settings in ``reward.reward_kwargs``): raas's own reward manager. It reads the
  rollout straight from verl's ``DataProto``: the response, the prompt's text and images (so
  ``rm``, the image reward models and ``with_images`` routes apply), and the step. Use it.
- :func:`compute_score` (``reward.custom_reward_function``, settings in its ``reward_kwargs``):
  an async function for verl's own ``naive``, ``dapo`` or ``gdpo`` manager, which awaits it per
  sample. Under ``naive`` it also gets the step, prompt and images (``naive`` merges the rollout's
  fields into ``extra_info``); ``dapo`` and ``gdpo`` pass neither.

Either way the samples a worker awaits within ``batch_window_s`` go to raas as one request
(:class:`~trainer_client.batching.SampleBatcher`), not one request or thread per sample.

**Reward spec.** The verifier comes from ``extra_info["verifier"]`` (with ``params``, ``format``,
``weights`` beside it), else :data:`DATA_SOURCE_VERIFIERS`, else ``default_verifier``; a data
source matched by none is sent without one, for the server's routes (``RAAS_ROUTES``) to score
by ``data_source`` — a raas with no route for it refuses the request, naming its routes.

**What verl holds.** verl cannot take ``None``. Each sample's ``reward_extra_info`` has the same
keys, :data:`EXTRA_INFO_KEYS` — ``acc`` (raas's accuracy component: verl's validation reports
it as ``val-core/<source>/acc``), ``format`` (the format component; 0.0 where the spec has no
format check) and ``raas_ok`` (1.0 scored, 0.0 not) — because verl builds its columns from the
first sample's keys, and GDPO's ``algorithm.gdpo_reward_keys: [acc, format]`` needs them on
every sample. A sample raas could not score gets ``failure_score`` (0.0) as its reward and
``acc``/``format`` 0.0, with ``raas_ok`` 0.0 to mask it and a logged warning; with
``on_failure: raise`` it stops training instead.

**The step** is the policy version verl's rollout servers stamp on each rollout,
``global_steps`` in its extra fields (vLLM, SGLang and TensorRT-LLM servers alike): the number of
weight updates the policy that wrote the response has had, 0 for the first step's rollouts and
for validation before training. It reaches the reward manager in the rollout's
``tool_extra_fields`` (streamed scoring) or as a ``global_steps`` column (a batch scored after
the rollout), and ``compute_score`` through ``extra_info`` under ``naive``. Nothing is counted
here. With ``total_steps`` (the manager's default: ``trainer.total_training_steps``) raas gets
``step``/``total_steps``, so schedules such as the dynamic IoU threshold follow training; where
verl passes no step (``dapo``/``gdpo`` with ``compute_score``, an agent loop whose server stamps
none) the request goes without one — raas's schedules stay at their start — and a warning says so
once per worker.

**Curves.** Each request's per-source summary (reward, accuracy, reflection ratio, unscored share,
and IoU, mAP and the IoU threshold for perception sources) is logged at INFO and, with
``summary_path``, appended to that JSONL file as ``{"step", "split", "reward/<source>", …}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from trainer_client.batching import Key, SampleBatcher
from trainer_client.chat import prompt_images, prompt_text
from trainer_client.client import RewardClient, RewardServiceError, ScoredBatch, ScoredSample
from trainer_client.images import ImageEncoder, ImageEncodingError

logger = logging.getLogger(__name__)

DATA_SOURCE_VERIFIERS: dict[str, str] = {
    # verl's example datasets whose answers are LaTeX-comparable
    "lighteval/MATH": "math",
    "DigitalLearningGmbH/MATH-lighteval": "math",
    "HuggingFaceH4/MATH-500": "math",
    "math_dapo": "math",
    "aime2024": "math",
    "aime2025": "math",
    "openai/gsm8k": "math",  # the model must box its final number (raas `math`)
    "hiyouga/geometry3k": "math",
}
EXTRA_INFO_KEYS = ("acc", "format", "raas_ok")
VALIDATION_SPLITS = frozenset({"test", "val", "valid", "validation", "eval", "dev"})
# keyword arguments verl itself adds to compute_score's call, not raas settings
VERL_CALL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_SPEC_KEYS = ("params", "format", "weights")
_clients: dict[tuple[str, str | None, int], RewardClient] = {}
_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[VerlSettings, SampleBatcher]]
_batchers = weakref.WeakKeyDictionary()
_warned: set[str] = set()

Score = float | dict[str, float]


@dataclass(frozen=True)
class VerlSettings:
    """raas's settings in verl's config (``reward.reward_kwargs`` for the manager,
    ``reward.custom_reward_function.reward_kwargs`` for :func:`compute_score`)."""

    url: str | None = None  # default: $RAAS_URL, else http://127.0.0.1:8000
    api_key: str | None = None  # default: $RAAS_API_KEY
    default_verifier: str | None = None
    total_steps: int | None = None
    on_failure: Literal["zero", "raise"] = "zero"
    failure_score: float = 0.0
    return_dict: bool = True  # compute_score: the score with EXTRA_INFO_KEYS, else the float
    summary_path: str | None = None
    max_batch: int = 256
    batch_window_s: float = 0.05

    @classmethod
    def of(cls, values: Mapping[str, Any], ignore: Iterable[str] = ()) -> VerlSettings:
        """From a config mapping; a key raas does not know is an error (a misspelt
        ``total_steps`` would otherwise freeze the schedules without a word)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - set(ignore))
        if unknown:
            raise ValueError(f"unknown raas setting(s) {unknown} for verl; known: {sorted(known)}")
        settings = cls(**{key: value for key, value in values.items() if key in known})
        if settings.on_failure not in ("zero", "raise"):
            raise ValueError(f"on_failure must be 'zero' or 'raise', not {settings.on_failure!r}")
        if settings.total_steps is not None and int(settings.total_steps) < 1:
            raise ValueError("total_steps must be at least 1")
        return settings


def client_for(url: str | None, api_key: str | None = None) -> RewardClient:
    """One client per URL, key and process (verl's reward workers are Ray actor processes)."""
    url = url or os.environ.get("RAAS_URL", "http://127.0.0.1:8000")
    key = (url, api_key, os.getpid())
    if key not in _clients:
        _clients[key] = RewardClient(url, api_key=api_key)
    return _clients[key]


def batcher_for(settings: VerlSettings) -> SampleBatcher:
    """The running event loop's batcher for ``settings`` (a verl reward worker has one loop)."""
    loop = asyncio.get_running_loop()
    per_loop = _batchers.setdefault(loop, {})
    if settings not in per_loop:
        per_loop[settings] = SampleBatcher(
            client_for(settings.url, settings.api_key),
            max_batch=settings.max_batch,
            window_s=settings.batch_window_s,
            on_batch=lambda batch, key: report(batch, key, settings),
        )
    return per_loop[settings]


def plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars (a parquet column's types) as Python values."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, without importing numpy
    if callable(tolist) and not isinstance(value, str | bytes):
        return plain(tolist())
    return value


def verl_sample(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None,
    default_verifier: str | None = None,
    *,
    messages: Any = None,
    encode: ImageEncoder | None = None,
    truncated: bool | None = None,
) -> dict[str, Any]:
    """The raas wire sample for one verl row; ``messages``: its prompt (verl's ``raw_prompt``);
    ``truncated``: whether the rollout filled the response length (where the caller knows).
    Raises :class:`~trainer_client.images.ImageEncodingError` for an image raas would refuse."""
    extra = extra_info or {}
    verifier = extra.get("verifier") or DATA_SOURCE_VERIFIERS.get(str(data_source))
    sample: dict[str, Any] = {
        "data_source": str(data_source),
        "response": solution_str,
        "ground_truth": plain(ground_truth),
    }
    if verifier or default_verifier:  # else the server's routes decide by data_source
        sample["verifier"] = str(verifier or default_verifier)
    sample.update({key: plain(extra[key]) for key in _SPEC_KEYS if extra.get(key) is not None})
    messages = plain(messages)
    if (prompt := prompt_text(messages)) is not None:
        sample["prompt"] = prompt
    if images := prompt_images(messages):
        sample["images"] = [(encode or ImageEncoder())(image) for image in images]
    if truncated is not None:
        sample["truncated"] = truncated
    return sample


def rollout_step(*sources: Mapping[str, Any] | None) -> int | None:
    """The first ``global_steps`` among ``sources`` that is a step (an integer ≥ 0)."""
    for source in sources:
        value = source.get("global_steps") if isinstance(source, Mapping) else None
        value = plain(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def is_validation(extra_info: Mapping[str, Any] | None) -> bool:
    """A row marked as validation data (``extra_info["split"]``, as verl's preprocessors write)."""
    return str((extra_info or {}).get("split", "")).lower() in VALIDATION_SPLITS


def reward_of(result: ScoredSample, settings: VerlSettings) -> tuple[float, dict[str, float]]:
    """What verl holds for one sample: its reward and :data:`EXTRA_INFO_KEYS`."""
    if result.ok and result.reward is not None:
        components = result.components
        info = {"acc": components.get("accuracy", 0.0), "format": components.get("format", 0.0)}
        return result.reward, {**info, "raas_ok": 1.0}
    if settings.on_failure == "raise":
        raise RewardServiceError(f"raas could not score a sample: {result.status}: {result.error}")
    return settings.failure_score, {"acc": 0.0, "format": 0.0, "raas_ok": 0.0}


def warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def schedule(step: int | None, settings: VerlSettings) -> dict[str, int | None]:
    """``step`` and ``total_steps`` for the request; warns once when a schedule cannot advance."""
    if step is None and settings.total_steps is not None:
        warn_once(
            "raas: verl passed no global_steps with this rollout (see trainer_client.verl); "
            "requests go without a step, so raas's schedules stay at their start"
        )
    return {"step": step, "total_steps": settings.total_steps}


def report(batch: ScoredBatch, key: Key, settings: VerlSettings) -> None:
    """After each request: a warning for unscored samples and the per-source summary."""
    step, _, split = key
    failed = [result for result in batch.results if not result.ok]
    if failed and settings.on_failure == "zero":
        first = failed[0]
        logger.warning(
            "raas could not score %d of %d samples (first: %s: %s); verl gets %s with raas_ok 0",
            len(failed),
            len(batch),
            first.status,
            first.error,
            settings.failure_score,
        )
    log_summary(batch, step, split, settings.summary_path)


def log_summary(batch: ScoredBatch, step: int | None, split: str, path: str | None) -> None:
    """raas's per-source summary of one request: to the log, and as a JSONL line to ``path``."""
    values = batch.scalars()
    if not values:
        return
    logger.info(
        "raas %s step %s: %s", split, step, " ".join(f"{k}={v:.4g}" for k, v in values.items())
    )
    if path is not None:
        line = json.dumps({"step": step, "split": split, **values})
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


async def score_row(
    settings: VerlSettings,
    sample_of: Callable[[], dict[str, Any]],
    step: int | None,
    extra: Mapping[str, Any],
) -> tuple[float, dict[str, float]]:
    """One row's reward and extra info, through this process's batcher; a row whose image raas
    would refuse is unscored here (``invalid_input``), never sent."""
    try:
        sample = sample_of()
    except ImageEncodingError as exc:
        return reward_of(ScoredSample(None, "invalid_input", error=f"image: {exc}"), settings)
    split = "val" if is_validation(extra) else "train"
    result = await batcher_for(settings).score(sample, **schedule(step, settings), group=split)
    return reward_of(result, settings)


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> Score:
    """verl's per-sample reward function: ``reward.custom_reward_function.name: compute_score``.

    Returns ``{"score", "acc", "format", "raas_ok"}`` (``return_dict: false``: the score alone,
    which verl logs as ``acc``). Under ``naive`` verl's ``extra_info`` carries the rollout's
    ``global_steps`` and ``raw_prompt`` (prompt and images); see the module docstring."""
    settings = VerlSettings.of(reward_kwargs, ignore=VERL_CALL_KWARGS)
    extra = extra_info or {}
    reward, info = await score_row(
        settings,
        lambda: verl_sample(
            data_source,
            solution_str,
            ground_truth,
            extra,
            settings.default_verifier,
            messages=extra.get("raw_prompt"),
        ),
        rollout_step(extra),
        extra,
    )
    return {"score": reward, **info} if settings.return_dict else reward
