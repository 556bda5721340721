"""raas as verl's custom reward function.

verl's per-sample reward managers call ``compute_score(data_source, solution_str, ground_truth,
extra_info, **reward_kwargs)``; its ``batch`` reward manager calls
``compute_score(data_sources=…, solution_strs=…, ground_truths=…, extra_infos=…,
**reward_kwargs)`` — point ``custom_reward_function.name`` at :func:`compute_score` or
:func:`compute_score_batch` (one HTTP request per batch: use it) and set
``custom_reward_function.reward_kwargs.url`` (or ``RAAS_URL``), and ``reward_kwargs.api_key`` (or
``RAAS_API_KEY``) for a raas that asks for one.

The verifier comes from ``extra_info["verifier"]`` when present (with ``params``, ``format``,
``weights`` beside it: sample-level formatting), else from :data:`DATA_SOURCE_VERIFIERS`, else
from ``reward_kwargs.default_verifier``; a data source matched by none is sent without one, for
the server's routes (``RAAS_ROUTES``) to pick its reward spec by ``data_source`` — a raas with no
route for it refuses the batch (:class:`~trainer_client.RequestRejectedError` naming its
routes), never scores it with a guessed verifier. raas verifiers read their own documented
response format (``math``: the ``\\boxed{}`` or anchored answer).

**Per-source curves.** verl logs what ``return_dict`` gives per sample for validation, per data
source. For training, each call logs raas's summary of the batch (reward, accuracy, reflection
ratio, unscored share and, for perception sources, IoU, mAP, the IoU threshold in effect) at
INFO level, and with ``reward_kwargs.summary_path`` appends it to that JSONL file as
``{"step", "split", "reward/<source>", …}`` (one line per call) for plotting.

verl cannot take ``None``: a sample raas could not score becomes ``failure_score`` (default 0.0)
with a logged warning, or raises :class:`~trainer_client.RewardServiceError` with
``on_failure="raise"``. With ``return_dict=True`` each score is
``{"score", "acc", "raas_ok"}``, which verl logs per key, so unscored samples stay visible.

**The training step.** No verl reward manager passes it: the legacy managers (``naive``,
``dapo``, ``batch``) and the reward loop (``verl/experimental/reward_loop``) call the function
with the rows' ``data_source``, response, ground truth and ``extra_info`` (the dataset's column
plus ``num_turns`` and ``rollout_reward_scores``) and the static ``reward_kwargs``; verl's
``global_steps`` stays in ``DataProto.meta_info``. So with ``reward_kwargs.total_steps`` set, the
step is counted here (:mod:`trainer_client.progress`): each training call advances a per-process
count of scored samples, ``step = start_step + samples before // samples_per_step``.
``samples_per_step`` defaults to the size of the first training call — exact for the ``batch``
manager, which scores a whole step in one call; per-sample calls (``naive``, ``dapo``, the reward
loop) must set it. Rows whose ``extra_info["split"]`` names a validation split (verl's example
preprocessors write ``"test"``) read the step without advancing it. ``reward_kwargs.step`` fixes
the step instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from trainer_client.client import RewardClient, RewardServiceError, ScoredSample
from trainer_client.progress import counter_for
from trainer_client.summary import log_summary

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
_SPEC_KEYS = ("params", "format", "weights")
VALIDATION_SPLITS = frozenset({"test", "val", "valid", "validation", "eval", "dev"})
_clients: dict[tuple[str, str | None, int], RewardClient] = {}

Score = float | dict[str, Any]


def client_for(url: str | None, api_key: str | None = None) -> RewardClient:
    """One client per URL, key and process: verl calls from Ray workers that may fork."""
    url = url or os.environ.get("RAAS_URL", "http://127.0.0.1:8000")
    key = (url, api_key, os.getpid())
    if key not in _clients:
        _clients[key] = RewardClient(url, api_key=api_key)
    return _clients[key]


def verl_sample(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None,
    default_verifier: str | None = None,
) -> dict[str, Any]:
    """The raas wire sample for one verl row."""
    extra = extra_info or {}
    verifier = extra.get("verifier") or DATA_SOURCE_VERIFIERS.get(data_source) or default_verifier
    sample = {
        "data_source": str(data_source), "response": solution_str, "ground_truth": ground_truth,
    }  # fmt: skip
    if verifier is not None:  # else the server's routes decide by data_source
        sample["verifier"] = verifier
    sample.update({key: extra[key] for key in _SPEC_KEYS if extra.get(key) is not None})
    return sample


def _as_score(
    result: ScoredSample, on_failure: Literal["zero", "raise"], failure_score: float, as_dict: bool
) -> Score:
    if result.ok and result.reward is not None:
        reward = result.reward
    elif on_failure == "raise":
        raise RewardServiceError(f"raas could not score a sample: {result.status}: {result.error}")
    else:
        logger.warning(
            "raas %s (%s): scored %s for verl", result.status, result.error, failure_score
        )
        reward = failure_score
    if not as_dict:
        return reward
    return {"score": reward, "acc": result.components.get("accuracy", 0.0), "raas_ok": result.ok}


def is_validation(extra_infos: Sequence[Mapping[str, Any] | None]) -> bool:
    """Every row marked as validation data (``extra_info["split"]``): the step does not advance."""
    splits = [str((info or {}).get("split", "")).lower() for info in extra_infos]
    return bool(splits) and all(split in VALIDATION_SPLITS for split in splits)


def training_step(
    count: int,
    validation: bool,
    url: str | None,
    *,
    step: int | None,
    total_steps: int | None,
    samples_per_step: int | None,
    start_step: int,
) -> int | None:
    """``step`` when given; else, with ``total_steps``, this process's count of training steps
    (a call of ``count`` samples; a validation call does not advance it)."""
    if step is not None or total_steps is None:
        return step
    counter = counter_for(("verl", url, total_steps), samples_per_step, start_step)
    return counter.step(count, training=not validation)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    url: str | None = None,
    api_key: str | None = None,
    default_verifier: str | None = None,
    on_failure: Literal["zero", "raise"] = "zero",
    failure_score: float = 0.0,
    return_dict: bool = False,
    step: int | None = None,
    total_steps: int | None = None,
    samples_per_step: int | None = None,
    start_step: int = 0,
    summary_path: str | None = None,
    **_: Any,
) -> list[Score]:
    """verl's batched signature: one score per row, one request (split if large) per call."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    samples = [
        verl_sample(source, solution, truth, info, default_verifier)
        for source, solution, truth, info in zip(
            data_sources, solution_strs, ground_truths, infos, strict=True
        )
    ]
    validation = is_validation(infos)
    step = training_step(
        len(infos), validation, url, step=step, total_steps=total_steps,
        samples_per_step=samples_per_step, start_step=start_step,
    )  # fmt: skip
    batch = client_for(url, api_key).score_sync(samples, step=step, total_steps=total_steps)
    log_summary(logger, batch.scalars(), step, "val" if validation else "train", summary_path)
    return [_as_score(r, on_failure, failure_score, return_dict) for r in batch.results]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Score:
    """verl's per-sample signature (one request per call: prefer the batched variant). Counting
    steps needs ``samples_per_step``: one call is one sample, not one step."""
    counted = kwargs.get("total_steps") is not None and kwargs.get("step") is None
    if counted and kwargs.get("samples_per_step") is None:
        raise ValueError(
            "per-sample scoring with total_steps needs reward_kwargs samples_per_step (the "
            "training samples this process scores per step; see trainer_client.verl)"
        )
    return compute_score_batch(
        [data_source], [solution_str], [ground_truth], [extra_info], **kwargs
    )[0]
