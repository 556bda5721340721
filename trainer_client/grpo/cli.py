"""``raas-train``: GRPO on a local model, rewards from a raas server.

    raas-train --model ./my-model --data train.jsonl --reward-url http://raas:8000 \\
        --steps 200 --prompts-per-step 32 --group-size 8 --output-dir runs/exp1

Each data row is a prompt plus its reward spec (see :mod:`trainer_client.grpo.data`). Writes
``metrics.jsonl``, ``tensorboard/``, ``reward_curve_<source>.png`` and ``final/`` (the model)
under ``--output-dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import typing
from collections.abc import Sequence
from typing import Any

from trainer_client.grpo.config import GRPOConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raas-train", description=__doc__.split("\n\n")[0])
    hints = typing.get_type_hints(GRPOConfig)
    for spec in dataclasses.fields(GRPOConfig):
        flag = "--" + spec.name.replace("_", "-")
        kind = hints[spec.name]
        required = spec.default is dataclasses.MISSING
        default = None if required else spec.default
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            continue
        choices = typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else None
        scalar = next((t for t in (int, float) if t in (kind, *typing.get_args(kind))), str)
        parser.add_argument(
            flag,
            type=scalar if choices is None else str,
            choices=choices,
            required=required,
            default=default,
            help=None if required else f"default: {default}",
        )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> GRPOConfig:
    """The run a ``raas-train`` command line describes."""
    options: dict[str, Any] = vars(_parser().parse_args(argv))
    return GRPOConfig(**options)


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from trainer_client.grpo.trainer import GRPOTrainer  # torch: only once arguments are fine

    GRPOTrainer(config).train()


if __name__ == "__main__":
    main()
