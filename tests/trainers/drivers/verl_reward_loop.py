"""verl 0.9.1 scoring rollouts through its reward loop, configured by the given overrides.

Run in ``.trainer-envs/verl`` with one argument, a JSON spec::

    {"overrides": [hydra overrides: the README's, then the test's],
     "rows": [{"data_source", "user", "images": [{"png": base64, "as": "bytes" | "pil"}],
               "ground_truth", "extra_info", "response", "uid", "step"}, ...]}

verl's own code does the work, as its trainer (``RayPPOTrainer.fit``) does it: hydra composes
``ppo_trainer`` from the overrides; ``RewardLoopManager`` starts ``reward.num_workers``
``RewardLoopWorker`` Ray actors, each loading the configured reward manager; dataset rows in the
shape ``RLHFDataset`` gives them are collated by verl's ``collate_fn``; for each step the
generation batch (``_get_gen_batch``, ``global_steps`` in its meta_info) goes through an
``AgentLoopWorker`` — its single-turn agent loop, post-processing and streamed reward (the
reward workers' ``compute_score``) — and is joined to the batch; ``extract_reward`` reads the
rewards, and ``compute_advantage`` runs the configured estimator on them. The same rollouts are
then scored again as a finished batch by ``RewardLoopManager.compute_rm_score`` (its workers'
``compute_score_batch``), the path verl takes for a batch its agent loop did not score.

One part stands in: the LLM server client (vLLM or SGLang, GPU only). :class:`ScriptedServer`
answers each prompt with the row's response tokens and stamps them as verl's rollout servers do,
``extra_fields["global_steps"]`` = the policy version (``min_``/``max_global_steps`` as
``LLMServerClient`` adds them). The policy has no processor, so the agent loop renders image
parts as placeholder tokens; the images stay in ``raw_prompt``, where verl's dataset put them.

Prints one JSON line: the resolved reward-manager class and, per path, what verl holds per row.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from PIL import Image
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
from verl.experimental.reward_loop import RewardLoopManager
from verl.protocol import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage
from verl.trainer.ppo.reward import extract_reward, resolve_reward_manager_cls
from verl.utils.dataset.rl_dataset import collate_fn
from verl.workers.rollout.replica import TokenOutput

MARK = re.compile(r"\[row \d+\]")


class ScriptedServer:
    """verl's LLM server client for a machine without a GPU (see the module docstring)."""

    def __init__(self, tokenizer: Any, rows: list[dict[str, Any]]) -> None:
        self.tokenizer = tokenizer
        self.rows = {MARK.search(row["user"]).group(0): row for row in rows}  # type: ignore[union-attr]

    async def generate(self, request_id: str, *, prompt_ids: list[int], **_: Any) -> TokenOutput:
        row = self.rows[MARK.search(self.tokenizer.decode(prompt_ids)).group(0)]  # type: ignore[union-attr]
        ids = self.tokenizer(row["response"], add_special_tokens=False)["input_ids"]
        version = row["step"]
        return TokenOutput(
            token_ids=[*ids, self.tokenizer.eos_token_id],
            stop_reason="completed",
            extra_fields={
                "global_steps": version,
                "min_global_steps": version,
                "max_global_steps": version,
            },
        )


def config_of(overrides: list[str]) -> DictConfig:
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def image_part(image: dict[str, str]) -> dict[str, Any]:
    """An image part as ``RLHFDataset._build_messages`` makes it (bytes, or a PIL image)."""
    data = base64.b64decode(image["png"])
    if image["as"] == "bytes":  # a parquet image column: {"bytes": …}, opened beside its bytes
        return {"type": "image", "bytes": data, "image": Image.open(io.BytesIO(data))}
    return {"type": "image", "image": Image.open(io.BytesIO(data)).convert("RGB")}


def dataset_row(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A row as ``RLHFDataset.__getitem__`` returns it."""
    content: Any = row["user"]
    if row["images"]:
        content = [*map(image_part, row["images"]), {"type": "text", "text": row["user"]}]
    return {
        "data_source": row["data_source"],
        "reward_model": {"style": "rule", "ground_truth": row["ground_truth"]},
        "extra_info": {**row["extra_info"], "index": index},
        "raw_prompt": [{"role": "user", "content": content}],
        "dummy_tensor": torch.tensor([0], dtype=torch.uint8),
        "index": index,
        "tools_kwargs": {},
        "interaction_kwargs": {},
    }


def check_round_trip(tokenizer: Any, rows: list[dict[str, Any]]) -> None:
    """The tiny policy tokenizer must give back each response exactly, as Qwen's does."""
    for row in rows:
        ids = tokenizer(row["response"], add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == row["response"], row["user"]


async def step_batch(
    worker: AgentLoopWorker, rows: list[dict[str, Any]], first: int
) -> tuple[DataProto, DataProto]:
    """One training step's batch as ``fit`` builds it, joined with its rollouts."""
    batch = DataProto.from_single_dict(
        collate_fn([dataset_row(r, first + i) for i, r in enumerate(rows)])
    )
    batch.non_tensor_batch["uid"] = np.array([row["uid"] for row in rows], dtype=object)
    gen_batch = RayPPOTrainer._get_gen_batch(None, batch)  # verl's code; it reads no state
    gen_batch.meta_info["global_steps"] = rows[0]["step"] + 1  # the trainer's step
    output = await worker.generate_sequences(gen_batch)
    return batch.union(output), output


def held(batch: DataProto) -> dict[str, Any]:
    """What verl holds per row: the reward tensor and the reward's extra columns."""
    rewards, extra = extract_reward(batch)
    prompt_length = batch.batch["prompts"].shape[1]
    last = batch.batch["attention_mask"][:, prompt_length:].sum(dim=1) - 1
    rows = torch.arange(len(batch))
    return {
        "rewards": rewards[rows, last].tolist(),
        "nonzero_elsewhere": int(
            (rewards.clone().index_put_((rows, last), torch.tensor(0.0)) != 0).sum()
        ),
        "extra_keys": list(batch.meta_info.get("reward_extra_keys", [])),
        "extra": {
            key: np.asarray(values, dtype=np.float64).tolist() for key, values in extra.items()
        },
    }


def advantages(batch: DataProto, config: DictConfig) -> dict[str, Any]:
    """The configured advantage estimator on verl's rewards (GDPO reads the extra columns)."""
    batch.batch["token_level_rewards"] = batch.batch["rm_scores"]
    done = compute_advantage(
        batch, adv_estimator=config.algorithm.adv_estimator, config=config.algorithm
    )
    values = done.batch["advantages"]
    finite = bool(torch.isfinite(values).all())
    return {
        "estimator": str(config.algorithm.adv_estimator),
        "finite": finite,
        "nonzero": int((values != 0).sum()),
    }


async def run(config: DictConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    manager = RewardLoopManager(config)
    streaming = AgentLoopWorker(
        config, None, reward_loop_worker_handles=manager.reward_loop_workers
    )
    unscored = AgentLoopWorker(config, None, reward_loop_worker_handles=None)
    check_round_trip(streaming.tokenizer, rows)
    streaming.llm_client = unscored.llm_client = ScriptedServer(streaming.tokenizer, rows)
    by_step: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_step[row["step"]].append(row)
    streamed, batched, first = [], [], 0
    for step_rows in by_step.values():
        streamed.append((await step_batch(streaming, step_rows, first))[0])
        joined, _ = await step_batch(unscored, step_rows, first)
        batched.append(joined.union(manager.compute_rm_score(joined)))
        first += len(step_rows)
    streamed_all, batched_all = DataProto.concat(streamed), DataProto.concat(batched)
    return {
        "manager": f"{manager.reward_manager_cls.__module__}.{manager.reward_manager_cls.__name__}",
        "streamed": {**held(streamed_all), "advantages": advantages(streamed_all, config)},
        "batched": held(batched_all),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    config = config_of(spec["overrides"])
    assert resolve_reward_manager_cls(config) is not None
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True)
    try:
        result = asyncio.run(run(config, spec["rows"]))
    finally:
        ray.shutdown()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
