"""What verl 0.9.1 makes of a reward configuration, without starting anything.

Run in ``.trainer-envs/verl`` with one argument, a JSON spec ``{"tokenizer": path, "configs":
{name: [hydra overrides]}}``. verl's own code reads each: hydra composes ``ppo_trainer`` (as
``main_ppo`` does, which applies no migration), and ``migrate_legacy_reward_impl`` maps the
legacy keys (as the fully asynchronous ``fully_async_main`` does); for each, ``load_reward_manager``
builds the reward manager a reward-loop worker would. Prints one JSON line: per config and entry
point, the reward manager and function verl resolved, or the error it raised.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from verl.experimental.reward_loop import migrate_legacy_reward_impl
from verl.trainer.ppo.reward import load_reward_manager
from verl.utils import hf_tokenizer


def resolved(config: DictConfig, tokenizer: Any) -> dict[str, Any]:
    """The reward manager verl builds for ``config``, and the function it hands it."""
    try:
        manager = load_reward_manager(config, tokenizer)
    except Exception as exc:  # the error is the result
        return {"error": f"{type(exc).__name__}: {exc}"}
    function = manager.compute_score
    target = getattr(function, "args", [function])[0]  # verl wraps a custom one in a partial
    return {
        "manager": f"{type(manager).__module__}.{type(manager).__name__}",
        "custom_path": config.reward.custom_reward_function.get("path"),
        "function": f"{target.__module__}.{target.__qualname__}",
        "awaited": inspect.iscoroutinefunction(function),
        "settings": repr(getattr(manager, "settings", None)),
    }


def entry_points(overrides: list[str], tokenizer: Any) -> dict[str, Any]:
    main_ppo = compose(config_name="ppo_trainer", overrides=overrides)
    fully_async = migrate_legacy_reward_impl(
        compose(config_name="ppo_trainer", overrides=overrides)
    )
    return {
        "main_ppo": resolved(main_ppo, tokenizer),
        "fully_async": resolved(fully_async, tokenizer),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    tokenizer = hf_tokenizer(spec["tokenizer"])
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        result = {name: entry_points(o, tokenizer) for name, o in spec["configs"].items()}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
