"""slime's two reward paths against a live raas, in the slime environment (aiohttp, PIL,
raas-client; slime itself is GitHub-only and needs GPUs, so it is not installed).

What slime does, at THUDM/slime 624b824a, and how this driver does the same:

- ``--rm-type remote_rm`` (``slime/rollout/rm_hub/__init__.py``, ``remote_rm``): one shared
  ``aiohttp.ClientSession`` (``TCPConnector(limit=64)``, 120 s total timeout) posts
  ``{"prompt": sample.prompt, "response": sample.response, "label": sample.label}`` with
  ``json=`` to ``args.rm_url``, raises for HTTP errors, and stores ``await resp.json()`` as
  ``sample.reward``; training reads ``sample.reward[args.reward_key]``
  (``Sample.get_reward_value``). The rollout sample filter (``--rollout-sample-filter-path``) is
  then called as ``filter(args, data)`` on the groups.
- ``--custom-rm-path`` (``async_rm`` / ``batched_async_rm``): the function is loaded by import
  path (``rpartition(".")``, ``import_module``, ``getattr``: ``slime.utils.misc.load_function``)
  and awaited as ``rm(args, sample)``, or ``rm(args, samples)`` with ``--group-rm``; rollout
  sample hooks (``--rollout-sample-hook-path``) run first, as ``hook(args, sample,
  rollout_id=…, evaluation=…)`` (``slime/rollout/sample_hooks.py``).

The flags come from the README's blocks, parsed by the flags' slime definitions
(``slime/utils/arguments.py``). argv[1]: a JSON job; the last stdout line: a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import io
import json
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from PIL import Image


@dataclass
class Sample:
    """The fields of ``slime.utils.types.Sample`` (624b824a), with its defaults; ``status``,
    ``spec_info`` and ``prefix_cache_info`` stand as plain values (the reward path reads none)."""

    group_index: int | None = None
    index: int | None = None
    rollout_id: int | None = None
    prompt: str | list[dict[str, Any]] = ""
    tokens: list[int] = field(default_factory=list)
    multimodal_inputs: dict[str, Any] | None = None
    multimodal_train_inputs: dict[str, Any] | None = None
    multimodal_train_input_id: str | None = None
    apply_chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    response: str = ""
    response_length: int = 0
    label: Any = None
    reward: Any = None
    loss_mask: list[int] | None = None
    weight_versions: list[str] = field(default_factory=list)
    rollout_log_probs: list[float] | None = None
    rollout_top_p_token_ids: list[int] | None = None
    rollout_top_p_token_offsets: list[int] | None = None
    rollout_routed_experts: Any = None
    remove_sample: bool = False
    teacher_log_probs: list[float] | None = None
    status: str = "completed"
    metadata: dict[str, Any] = field(default_factory=dict)
    generate_function_path: str | None = None
    custom_rm_path: str | None = None
    train_metadata: dict[str, Any] | None = None
    session_id: str | None = None
    non_generation_time: float = 0.0
    spec_info: Any = None
    prefix_cache_info: Any = None


def slime_flags() -> argparse.ArgumentParser:
    """The reward flags as ``slime/utils/arguments.py`` declares them."""
    parser = argparse.ArgumentParser(prog="slime")
    parser.add_argument("--rm-type", type=str, default=None)
    parser.add_argument("--reward-key", type=str, default=None)
    parser.add_argument("--eval-reward-key", type=str, default=None)
    parser.add_argument("--group-rm", action="store_true", default=False)
    parser.add_argument("--rm-url", type=str, default=None)
    parser.add_argument("--custom-rm-path", type=str, default=None)
    parser.add_argument("--rollout-sample-hook-path", action="append", default=[])
    parser.add_argument("--rollout-sample-filter-path", type=str, default=None)
    parser.add_argument("--num-rollout", type=int, default=None)
    return parser


def load_function(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def pointed_at(url: str, server: str) -> str:
    """The README's URL with its host and port replaced by the live server's (user info kept)."""
    given, live = urlsplit(url), urlsplit(server)
    userinfo = given.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{live.netloc}" if userinfo else live.netloc
    return urlunsplit((live.scheme, netloc, given.path, given.query, given.fragment))


def image(color: str) -> Image.Image:
    return Image.new("RGB", (8, 8), color)


def build(fields: dict[str, Any]) -> Sample:
    sample = Sample(**{k: v for k, v in fields.items() if k != "images"})
    if fields.get("images"):
        sample.multimodal_inputs = {"images": [image(c) for c in fields["images"]], "videos": None}
    return sample


async def remote_rm(args: argparse.Namespace, groups: list[list[Sample]]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=120)
    errors: list[str | None] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def post(sample: Sample) -> None:
            payload = {"prompt": sample.prompt, "response": sample.response, "label": sample.label}
            try:
                async with session.post(args.rm_url, json=payload) as resp:
                    resp.raise_for_status()
                    sample.reward = await resp.json()
                    errors.append(None)
            except aiohttp.ClientResponseError as exc:
                errors.append(f"HTTP {exc.status}")

        await asyncio.gather(*(post(s) for group in groups for s in group))
    if args.rollout_sample_filter_path and all(e is None for e in errors):
        load_function(args.rollout_sample_filter_path)(args, groups)
    samples = [s for group in groups for s in group]
    return {
        "answers": [s.reward for s in samples],
        "errors": errors,
        "rewards": [s.reward[args.reward_key] if s.reward is not None else None for s in samples],
        "removed": [s.remove_sample for s in samples],
    }


async def custom_rm(
    args: argparse.Namespace, groups: list[list[Sample]], rollout_id: int | None
) -> dict[str, Any]:
    rm = load_function(args.custom_rm_path)
    for sample in (s for group in groups for s in group):
        for path in args.rollout_sample_hook_path:
            load_function(path)(args, sample, rollout_id=rollout_id, evaluation=False)
    if args.group_rm:
        for group in groups:
            for sample, reward in zip(group, await rm(args, group), strict=True):
                sample.reward = reward
    else:
        for sample in (s for group in groups for s in group):
            sample.reward = await rm(args, sample)
    samples = [s for group in groups for s in group]
    return {
        "rewards": [s.reward for s in samples],
        "removed": [s.remove_sample for s in samples],
        "raas": [s.metadata.get("raas") for s in samples],
    }


def encoded(groups: list[list[Sample]]) -> list[list[str]]:
    """What the images are as PNG bytes, base64 (for the test's own ``/reward`` request)."""
    found = []
    for sample in (s for group in groups for s in group):
        images = (sample.multimodal_inputs or {}).get("images") or []
        buffers = [io.BytesIO() for _ in images]
        for picture, buffer in zip(images, buffers, strict=True):
            picture.save(buffer, format="PNG")
        found.append([base64.b64encode(b.getvalue()).decode() for b in buffers])
    return found


async def main(job: dict[str, Any]) -> dict[str, Any]:
    args = slime_flags().parse_args(shlex.split(job["flags"]) + job.get("extra_flags", []))
    groups = [[build(fields) for fields in group] for group in job["groups"]]
    report: dict[str, Any] = {"images": encoded(groups)}
    if args.rm_type == "remote_rm":
        args.rm_url = pointed_at(args.rm_url, job["url"])
        report |= await remote_rm(args, groups)
    else:
        report |= await custom_rm(args, groups, job.get("rollout_id"))
    report["metadata"] = [s.metadata for group in groups for s in group]
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)  # noqa: T201
