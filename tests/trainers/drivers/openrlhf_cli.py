"""A README command replayed: bash runs it, OpenRLHF 0.11.2's own parser reads it, and the
rollout path it configures scores rows against raas.

``openrlhf_cli.py replay COMMAND``: bash runs ``COMMAND`` (quoting, ``$(…)``, continuations as a
shell has them) with two functions in front: ``ray`` (``ray job submit [--runtime-env-json
JSON] -- CMD``: ``CMD`` with JSON's ``env_vars`` set, as Ray sets them on its workers) and
``python`` (this environment's; ``python -m openrlhf.cli.train_ppo_ray ARGS`` becomes
``openrlhf_cli.py run ARGS``).

``openrlhf_cli.py run ARGS``: the statements under ``train_ppo_ray.py``'s ``if __name__ ==
"__main__":`` — its argparse parser and its checks — executed from the installed file on
``ARGS``, with ``train`` (Ray, DeepSpeed, vLLM on GPUs) replaced by taking the parsed
arguments. Then the rows in ``$OPENRLHF_DRIVER_ROWS`` go through the executor those arguments
give (``--reward.remote_url`` or ``--train.agent_func_path``, ``--data.*`` keys and lengths).
Prints ``{"args": …, "samples": …, "items": …}``, or ``{"parse_error": …}`` where OpenRLHF's
parser or checks refused the command.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import _openrlhf

PRELUDE = r"""
set -euo pipefail
ray() {
  local env_json='{}'
  while [ "$1" != "--" ]; do
    if [ "$1" = "--runtime-env-json" ]; then env_json="$2"; shift; fi
    shift
  done
  shift
  (eval "$("$DRIVER_PYTHON" -c 'import json, shlex, sys
for k, v in json.loads(sys.argv[1]).get("env_vars", {}).items():
    print(f"export {k}={shlex.quote(v)}")' "$env_json")"; "$@")
}
python() {
  if [ "$1" = -m ] && [ "$2" = openrlhf.cli.train_ppo_ray ]; then
    shift 2; "$DRIVER_PYTHON" "$DRIVER" run "$@"
  else
    "$DRIVER_PYTHON" "$@"
  fi
}
"""
SHOWN = (
    "reward.remote_url",
    "train.agent_func_path",
    "data.input_key",
    "data.label_key",
    "data.image_key",
    "data.apply_chat_template",
    "data.max_images_per_prompt",
    "data.max_len",
    "rollout.max_new_tokens",
    "rollout.n_samples_per_prompt",
)


def parse(argv: list[str]) -> Any:
    """``argv`` through the main block of the installed ``openrlhf/cli/train_ppo_ray.py``."""
    import openrlhf.cli

    path = Path(openrlhf.cli.__file__).with_name("train_ppo_ray.py")
    tree = ast.parse(path.read_text(), str(path))
    main = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    )
    parsed: list[Any] = []
    namespace = {
        "__name__": "__main__",
        "argparse": argparse,
        "os": os,
        "datetime": datetime,
        "train": parsed.append,
    }
    sys.argv = [str(path), *argv]
    code = compile(ast.Module(body=main.body, type_ignores=[]), str(path), "exec")
    exec(code, namespace)  # OpenRLHF's own statements, as `python -m` would run them
    return parsed[0]


def shown(args: Any) -> dict[str, Any]:
    values = {}
    for name in SHOWN:
        value = args
        for part in name.split("."):
            value = getattr(value, part)
        values[name] = value
    return values


def run(argv: list[str]) -> dict[str, Any]:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stdout(sys.stderr), contextlib.redirect_stderr(errors):
            args = parse(argv)
    except (SystemExit, AssertionError) as exc:
        return {"parse_error": errors.getvalue() or f"{type(exc).__name__}: {exc}"}
    _openrlhf.stub_vllm()
    executor = _openrlhf.executor_for(args.reward.remote_url, args.train.agent_func_path)
    rows = json.loads(os.environ.get("OPENRLHF_DRIVER_ROWS", "[]"))
    return {"args": shown(args), **_openrlhf.rollouts(executor, args, rows)}


def replay(command: str) -> None:
    """``command`` in bash, from an empty directory (``python -c 'import trainer_client…'``
    must find the installed raas-client, not a checkout's)."""
    env = {**os.environ, "DRIVER": __file__, "DRIVER_PYTHON": sys.executable}
    with tempfile.TemporaryDirectory() as elsewhere:
        done = subprocess.run(
            ["bash", "-c", PRELUDE + command],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            cwd=elsewhere,
        )
    sys.stdout.write(done.stdout)
    if done.returncode:
        raise SystemExit(f"the command exited {done.returncode}")


if __name__ == "__main__":
    if sys.argv[1] == "replay":
        replay(sys.argv[2])
    else:
        sys.stdout.write(json.dumps(run(sys.argv[2:])) + "\n")
