"""raas as a TRL reward function: ``GRPOTrainer(reward_funcs=RaasRewardFunction(url), …)``.

TRL calls ``reward_func(prompts=…, completions=…, completion_ids=…, trainer_state=…,
log_metric=…, **dataset_columns)`` once per generation batch and takes one float per completion,
``None`` meaning "not applicable" (TRL turns it into NaN and leaves it out of the reward sum).
Each row's reward spec comes from its dataset columns, so one dataset can mix tasks:

=================  ==========================================================================
column             meaning (a missing column falls back to the constructor's default)
=================  ==========================================================================
``verifier``       raas verifier name (default ``"math"``)
``ground_truth``   the answer; ``solution`` (TRL's own math examples) is read when absent
``data_source``    groups metrics (default ``"trl"``)
``params``         verifier params: a dict or a JSON string; ``None`` values are dropped
                   (a ``datasets`` struct column fills keys missing in a row with ``None``)
``format``         format checker, e.g. ``"think_answer"``; ``weights`` ``{"accuracy", "format"}``
=================  ==========================================================================

Conversational completions (lists of ``{"role", "content"}`` messages, content possibly a list
of ``{"type": "text", "text"}`` parts) are scored on their text. ``step``/``total_steps`` come from
TRL's trainer state, so schedules such as the dynamic IoU threshold follow training. An
unscorable sample is ``None`` (masked, not punished). Through TRL's ``log_metric`` it logs
``<name>/unscored_fraction`` and raas's per-source curves, ``<name>/<metric>/<data_source>``
(reward, accuracy, format, response length, reflection ratio, unscored, and for perception
sources IoU, mAP, the IoU threshold in effect and the parsed share). The object holds
configuration only and opens its :class:`RewardClient` lazily in each process, so it pickles
into data-parallel and dataloader workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from trainer_client.client import RewardClient

_SPEC_COLUMNS = ("verifier", "ground_truth", "data_source", "params", "format", "weights")


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string as is, a message list as its contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content", ""))
    if isinstance(completion, Sequence):
        return "".join(completion_text(message) for message in completion)
    return str(completion)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: keep the text ones
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise TypeError(f"params must be a dict or a JSON object string, not {value!r:.80}")
    return {key: item for key, item in value.items() if item is not None}


class RaasRewardFunction:
    """A picklable TRL reward function backed by raas (see the module docstring)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        name: str = "raas",
        verifier: str = "math",
        data_source: str = "trl",
        params: Mapping[str, Any] | None = None,
        format_checker: str | None = None,
        weights: Mapping[str, float] | None = None,
        client_options: Mapping[str, Any] | None = None,
        api_key: str | None = None,
    ) -> None:
        """``api_key``: for a raas started with ``RAAS_API_KEYS`` (default ``$RAAS_API_KEY``)."""
        self.url = url
        self.__name__ = name  # TRL logs rewards/<__name__>/mean
        self.defaults: dict[str, Any] = {
            "verifier": verifier, "data_source": data_source, "params": dict(params or {}),
            "format": format_checker, "weights": dict(weights) if weights else None,
        }  # fmt: skip
        self.client_options = {"api_key": api_key, **(client_options or {})}
        self._client: RewardClient | None = None
        self._client_pid = -1

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"], state["_client_pid"] = None, -1  # a live pool never travels
        return state

    @property
    def client(self) -> RewardClient:
        """This process's client, created on first use (and again after a fork)."""
        if self._client is None or self._client_pid != os.getpid():
            self._client = RewardClient(self.url, **self.client_options)
            self._client_pid = os.getpid()
        return self._client

    def samples(
        self, prompts: Sequence[Any], completions: Sequence[Any], columns: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The wire samples for one TRL call: one per completion, spec from its row."""
        rows = []
        for index, completion in enumerate(completions):
            row = {
                key: values[index]
                for key, values in columns.items()
                if isinstance(values, Sequence) and not isinstance(values, str)
                and len(values) == len(completions)
            }  # fmt: skip
            if "ground_truth" not in row and "solution" in row:
                row["ground_truth"] = row["solution"]
            sample = {key: row.get(key, self.defaults.get(key)) for key in _SPEC_COLUMNS}
            sample["params"] = {**self.defaults["params"], **_params(row.get("params"))}
            sample["response"] = completion_text(completion)
            prompt = prompts[index] if index < len(prompts) else None
            sample["prompt"] = completion_text(prompt) if prompt is not None else None
            rows.append({key: value for key, value in sample.items() if value is not None})
        return rows

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        state = columns.pop("trainer_state", None)
        log_metric: Callable[[str, float], None] | None = columns.pop("log_metric", None)
        for key in ("completion_ids", "log_extra", "environments"):
            columns.pop(key, None)
        step = getattr(state, "global_step", None)
        total = getattr(state, "max_steps", None) or None
        batch = self.client.score_sync(
            self.samples(prompts, completions, columns), step=step, total_steps=total
        )
        if log_metric is not None and len(batch):
            unscored = sum(not r.ok for r in batch.results)
            log_metric(f"{self.__name__}/unscored_fraction", unscored / len(batch))
            for key, value in batch.scalars(f"{self.__name__}/").items():
                log_metric(key, value)
        return batch.rewards
