"""raas in slime (THUDM/slime): a custom reward function, a step hook and a mask filter.

slime loads each of these by import path (``slime.utils.misc.load_function``)::

    --custom-rm-path trainer_client.slime.rm
    --rollout-sample-hook-path trainer_client.slime.record_step
    --rollout-sample-filter-path trainer_client.slime.mask_unscored   # for --rm-type remote_rm

:func:`rm` is slime's ``async def rm(args, sample)`` and, for ``--group-rm`` (and generate
functions that return several samples), ``rm(args, samples) -> list``: slime calls the same
function both ways. Each sample becomes a raas sample: ``response``; ``label`` as the ground
truth; ``prompt`` (chat messages as their text); ``metadata``'s ``verifier``, ``data_source``
(default ``slime``), ``params``, ``format``, ``weights``; ``multimodal_inputs["images"]`` (PIL
images) as PNG data URIs; ``truncated`` from ``status`` (slime's ``TRUNCATED`` when the engine
stopped at the length limit, ``COMPLETED`` otherwise; no flag for other statuses), for raas's
per-source truncation rate. A sample whose metadata names no verifier takes ``RAAS_VERIFIER``, else
the server's routes for its ``data_source``. The samples of one call go to ``/reward`` together
through :class:`~trainer_client.client.RewardClient` (``RAAS_URL``, ``RAAS_API_KEY``).

slime cannot take ``None`` for a reward: an unscorable sample gets 0.0, ``remove_sample = True``
(slime then zeroes its loss mask), ``metadata["raas"]`` with its status and error, and a logged
warning. A scored one gets its reward and ``metadata["raas"]`` with its components.

*The step.* slime does not pass the rollout id to reward functions, but it does to rollout
sample hooks (``hook(args, sample, rollout_id=…, evaluation=…)``, run before the reward);
:func:`record_step` stores it in ``sample.metadata["raas_step"]``, and :func:`rm` sends it as
``step`` with ``args.num_rollout`` as ``total_steps``. Without the hook no step is sent
(schedules stay at their first value), and :func:`rm` warns once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from trainer_client.chat import prompt_text
from trainer_client.client import RewardClient, ScoredSample
from trainer_client.images import ImageEncoder, ImageEncodingError

logger = logging.getLogger(__name__)

STEP_KEY = "raas_step"
_SPEC = ("verifier", "data_source", "params", "format", "weights")
_ENV = ("RAAS_URL", "RAAS_API_KEY")
_clients: dict[tuple[int, tuple[str | None, ...]], RewardClient] = {}
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def client() -> RewardClient:
    """This process's client for ``RAAS_URL`` / ``RAAS_API_KEY`` (one per process: slime's
    rollout manager is one Ray actor)."""
    key = (os.getpid(), tuple(os.environ.get(name) for name in _ENV))
    if key not in _clients:
        url = os.environ.get("RAAS_URL", "http://127.0.0.1:8000")
        _clients[key] = RewardClient(url, api_key=os.environ.get("RAAS_API_KEY"))
    return _clients[key]


def _metadata(sample: Any) -> dict[str, Any]:
    """The sample's metadata dict, made one if it had none."""
    if not isinstance(getattr(sample, "metadata", None), dict):
        sample.metadata = {}
    metadata: dict[str, Any] = sample.metadata
    return metadata


def raas_sample(sample: Any, encode: ImageEncoder | None = None) -> dict[str, Any]:
    """A slime ``Sample`` as a ``/reward`` sample; :class:`ImageEncodingError` for an image raas
    would refuse."""
    prompt = sample.prompt
    found: dict[str, Any] = {
        "data_source": "slime",
        "response": sample.response,
        "ground_truth": sample.label,
        "prompt": prompt if isinstance(prompt, str) else prompt_text(prompt),
    }
    if verifier := os.environ.get("RAAS_VERIFIER"):
        found["verifier"] = verifier
    metadata = _metadata(sample)
    found.update({key: metadata[key] for key in _SPEC if metadata.get(key) is not None})
    images = (getattr(sample, "multimodal_inputs", None) or {}).get("images") or []
    if images:
        found["images"] = [(encode or ImageEncoder())(image) for image in images]
    status = getattr(sample, "status", None)
    status = getattr(status, "value", status)  # slime's Sample.Status, or its value
    if status in ("truncated", "completed"):
        found["truncated"] = status == "truncated"
    return found


def _schedule(args: Any, samples: list[Any], kwargs: Mapping[str, Any]) -> dict[str, int | None]:
    step = kwargs.get("rollout_id")
    if step is None:
        step = next((m[STEP_KEY] for s in samples if STEP_KEY in (m := _metadata(s))), None)
    if step is None:
        _warn_once(
            "step",
            "raas: no rollout id reaches the reward function, so no step is sent "
            "(add --rollout-sample-hook-path trainer_client.slime.record_step)",
        )
        return {"step": None, "total_steps": None}
    return {"step": int(step), "total_steps": getattr(args, "num_rollout", None)}


def _settle(
    sample: Any, status: str, components: Any, error: str | None, reward: float | None
) -> float:
    """The reward slime stores; an unscored sample is masked (``remove_sample``), not punished."""
    _metadata(sample)["raas"] = {"status": status, "components": components, "error": error}
    if reward is not None:
        return reward
    sample.remove_sample = True
    logger.warning("raas could not score a sample (%s): %s; reward 0.0, loss masked", status, error)
    return 0.0


def _scored(sample: Any, scored: ScoredSample) -> float:
    return _settle(sample, scored.status, scored.components, scored.error, scored.reward)


async def _score(args: Any, samples: list[Any], kwargs: Mapping[str, Any]) -> list[float]:
    """One ``/reward`` call for the samples raas can take; one whose image it would refuse is
    settled here, unscored, and the rest are still scored."""
    encode, wire, refused = ImageEncoder(), {}, {}
    for index, sample in enumerate(samples):
        try:
            wire[index] = raas_sample(sample, encode)
        except ImageEncodingError as exc:
            refused[index] = _settle(sample, "invalid_input", {}, str(exc), None)
    batch = await client().score(list(wire.values()), **_schedule(args, samples, kwargs))
    scored = dict(zip(wire, batch.results, strict=True))
    return [refused[i] if i in refused else _scored(s, scored[i]) for i, s in enumerate(samples)]


async def rm(args: Any, sample: Any, **kwargs: Any) -> float | list[float]:
    """slime's custom reward function: one ``Sample`` → its reward; a list → one each."""
    if isinstance(sample, list):
        return await _score(args, sample, kwargs)
    return (await _score(args, [sample], kwargs))[0]


def record_step(args: Any, sample: Any, *, rollout_id: int | None = None, **_: Any) -> None:
    """slime's rollout sample hook: the rollout id, for :func:`rm` to send as the step."""
    if rollout_id is not None:
        _metadata(sample)[STEP_KEY] = rollout_id


def _leaves(data: Iterable[Any]) -> Iterable[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _leaves(item)
        else:
            yield item


def mask_unscored(args: Any, data: list[Any]) -> None:
    """slime's rollout sample filter for ``/slime`` answers: a sample whose reward has
    ``raas_unscored`` set leaves the loss (``remove_sample``)."""
    masked = 0
    for sample in _leaves(data):
        reward = getattr(sample, "reward", None)
        if isinstance(reward, Mapping) and reward.get("raas_unscored"):
            sample.remove_sample = True
            masked += 1
    if masked:
        logger.warning("raas: %d samples unscored, masked out of the loss", masked)
