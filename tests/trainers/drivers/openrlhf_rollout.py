"""Dataset rows through OpenRLHF 0.11.2's rollout and experience path, against raas.

``openrlhf_rollout.py SPEC_JSON``. ``SPEC``: what scores — ``"remote_url": [...]``, or
``"reward_module": name`` (its installed file as the URL), or ``"agent_func_path": path`` —
and ``"rows": [{"input", "label", "turns": [...], "image": bool, "max_len": int}]``,
``"vision": bool``, ``"max_new_tokens": int``. Each row becomes its prompt through OpenRLHF's
``preprocess_data`` (the chat template; an ``<image>`` tag an image part), the executor a
``RolloutRayActor`` would make runs it (the processor expands the image, the scripted policy
answers, the query is decoded and scored by ``remote_url`` — raas's ``/get_reward`` or a
reward file — or by the agent), and the outputs go through the experience path
(``_openrlhf.experiences``). Prints what the rollouts and the trainer's experience items hold,
or where that path raised.
"""

from __future__ import annotations

import importlib
import json
import sys
from types import SimpleNamespace
from typing import Any

import _openrlhf


def main(spec: dict[str, Any]) -> dict[str, Any]:
    _openrlhf.stub_vllm()
    args = SimpleNamespace(
        data=SimpleNamespace(
            apply_chat_template=True,
            input_template=None,
            input_key="input",
            label_key="label",
            image_key="image",
            max_images_per_prompt=int(spec.get("vision", False)),
            max_len=4096,
        ),
        rollout=SimpleNamespace(max_new_tokens=spec.get("max_new_tokens")),
    )
    remote_url = spec.get("remote_url")
    if "reward_module" in spec:
        remote_url = [importlib.import_module(spec["reward_module"]).__file__]
    executor = _openrlhf.executor_for(remote_url, spec.get("agent_func_path"))
    return _openrlhf.rollouts(executor, args, spec["rows"])


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(json.loads(sys.argv[1]))) + "\n")
