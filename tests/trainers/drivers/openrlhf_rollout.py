"""Samples through OpenRLHF 0.11.2's single-turn rollout and experience path, against raas.

``openrlhf_rollout.py SPEC_JSON``: ``SPEC`` = ``{"remote_url": [...], "vision": bool,
"samples": [{"input", "label", "response", "image": bool, "max_length": int,
"max_new_tokens": int}]}``. Each sample's
dataset row becomes its prompt through OpenRLHF's ``preprocess_data`` (the chat template, an
``<image>`` tag as an image part), ``SingleTurnAgentExecutor(remote_url)`` tokenises it (a
vision processor expands the image), has the scripted policy answer, decodes the query and
fetches the reward from ``remote_url`` (raas's ``/get_reward``, or a reward file) as in a run;
then the outputs go through the experience path (``_openrlhf.experiences``). Prints what the
rollouts and the trainer's experience items hold, or where that path raised.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import _openrlhf

ARGS = SimpleNamespace(data=SimpleNamespace(
    apply_chat_template=True, input_template=None, input_key="input", label_key="label",
))  # fmt: skip


def rollout(executor: Any, tokenizer: Any, sample: dict[str, Any]) -> dict[str, Any]:
    prompt, label = _openrlhf.build_prompt(sample, ARGS, tokenizer)
    images = [_openrlhf.image()] if sample.get("image") else None
    output = _openrlhf.execute(
        executor, prompt, label, [sample["response"]], tokenizer, images,
        sample.get("max_length", 4096), sample.get("max_new_tokens"),
    )  # fmt: skip
    query = tokenizer.decode(output["observation_tokens"], skip_special_tokens=False)
    return {"output": output, "prompt": prompt, "query": query}


def main(spec: dict[str, Any]) -> dict[str, Any]:
    _openrlhf.stub_vllm()
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    tokenizer = _openrlhf.qwen_vl_processor() if spec.get("vision") else _openrlhf.qwen_tokenizer()
    executor = SingleTurnAgentExecutor(spec["remote_url"])
    done = [rollout(executor, tokenizer, sample) for sample in spec["samples"]]
    report: dict[str, Any] = {"samples": [{
        "prompt": d["prompt"], "query": d["query"], "reward": d["output"]["reward"],
        "scores": d["output"]["scores"], "extra_logs": d["output"]["extra_logs"],
    } for d in done]}  # fmt: skip
    try:
        items = _openrlhf.experiences([d["output"] for d in done], tokenizer)
    except (ValueError, TypeError, KeyError) as exc:
        report["experience_error"] = f"{type(exc).__name__}: {exc}"
    else:
        report["items"] = [_openrlhf.item_view(item) for item in items]
    return report


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(json.loads(sys.argv[1]))) + "\n")
