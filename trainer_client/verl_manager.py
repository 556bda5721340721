"""raas as verl's reward manager — loaded by verl, and only by verl (it imports verl).

verl 0.9.1 loads it through its own config::

    reward.reward_manager.source=importlib
    reward.reward_manager.name=RaasRewardManager
    reward.reward_manager.module.path=pkg://trainer_client.verl_manager
    +reward.reward_kwargs.url=http://raas:8000   # trainer_client.verl.VerlSettings

Each reward-loop worker builds one :class:`RaasRewardManager` and awaits :meth:`run_single` per
sample; the samples it awaits within ``batch_window_s`` go to raas together. Leave
``reward.custom_reward_function.path`` unset: the manager calls raas itself (a function set there
is not called; a warning says so). ``reward.reward_model.enable`` is refused: verl would then
score with its own reward model and never call the manager — raas serves the reward models.

What it sends, per sample (see :mod:`trainer_client.verl` for the spec, the step and the keys it
returns): the response decoded from the rollout's valid response tokens without special tokens,
as verl's own managers decode it; the prompt as the text of the user messages of ``raw_prompt``,
the chat verl rolled out from (every 0.9.1 path to a reward manager carries it: the agent loop
generates from it) — not the decoded prompt tokens, which carry the chat template and one
placeholder token per image patch, while raas's reward models apply their own template to the
prompt as the user turn; the images of ``raw_prompt``, as verl's dataset put them there (PIL
images, bytes, paths); and ``truncated``: whether the valid response tokens fill the response
width (``rollout.response_length``), V-Triune's ``length_clip_ratio`` test, for raas's
per-source truncation rate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from trainer_client.verl import VerlSettings, rollout_step, score_row, verl_sample

logger = logging.getLogger(__name__)


def settings_of(config: DictConfig) -> VerlSettings:
    """``reward.reward_kwargs``; ``total_steps`` defaults to ``trainer.total_training_steps``."""
    given = config.reward.get("reward_kwargs")
    values = OmegaConf.to_container(given, resolve=True) if given is not None else {}
    assert isinstance(values, dict)
    total = config.trainer.get("total_training_steps")
    if values.get("total_steps") is None and total is not None:
        values["total_steps"] = int(total)
    return VerlSettings.of({str(key): value for key, value in values.items()})


def check_reward_config(config: DictConfig) -> None:
    """Refuse the one setting under which verl would never call this manager, and say what it
    does not use."""
    custom = config.reward.custom_reward_function.get("path")
    if config.reward.reward_model.get("enable") and not custom:
        raise ValueError(
            "reward.reward_model.enable is set: verl's reward-loop workers would score with that "
            "model and never call RaasRewardManager; raas serves reward models itself (the `rm` "
            "verifier), so leave reward.reward_model disabled"
        )
    if custom:
        logger.warning(
            "RaasRewardManager scores with raas; reward.custom_reward_function %s is not called",
            custom,
        )


class RaasRewardManager(RewardManagerBase):  # type: ignore[misc]  # no verl where mypy runs
    """verl's ``RewardManagerBase`` backed by raas (see the module docstring)."""

    def __init__(
        self,
        config: DictConfig,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        self.settings = settings_of(config)
        check_reward_config(config)

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        """One rollout's reward: ``{"reward_score", "reward_extra_info"}``."""
        item = data[-1:][0]  # a multi-output rollout is scored on its last sequence, as verl's
        columns: Mapping[str, Any] = item.non_tensor_batch
        extra = columns.get("extra_info") or {}
        response, truncated = self._response(item)
        reward, info = await score_row(
            self.settings,
            lambda: verl_sample(
                columns["data_source"],
                response,
                columns["reward_model"]["ground_truth"],
                extra,
                self.settings.default_verifier,
                messages=columns.get("raw_prompt"),
                truncated=truncated,
            ),
            rollout_step(columns.get("tool_extra_fields"), columns),
            extra,
        )
        return {"reward_score": reward, "reward_extra_info": info}

    def _response(self, item: Any) -> tuple[str, bool]:
        """The response text, and whether it filled the response width (cut at max length)."""
        responses = item.batch["responses"]
        width = responses.shape[-1]
        valid = int(item.batch["attention_mask"][-width:].sum())
        text: str = self.tokenizer.decode(responses[:valid], skip_special_tokens=True)
        return text, valid >= width
