#!/usr/bin/env bash
# The tiny VLM's GRPO grounding run (bench/toy_grounding.py) on a GPU machine: the policy in
# bfloat16 on CUDA (raas-train's dtype auto; trained through float32 master weights), its
# supervised warm start in float32 on the same GPU, raas serving the rewards beside it (the
# embedded pool, as `make serve` runs it).
#
#   bash bench/gpu/toy_grounding_cuda.sh [toy_grounding.py options, e.g. --steps 200]
#
# Needs CUDA, torch built for it, and raas with raas-client[train] installed (`make install`);
# $PYTHON is that environment's interpreter (default: python on the PATH).
# On a machine without package access, set WHEELS to a folder of wheels for both (made with
# `pip wheel . "./clients/python[train]" -w wheels` where there is access): they are installed
# first, offline. Results go to $RESULTS (default bench/results/toy_grounding_cuda): the run's
# metrics.jsonl, curves.png and summary.json, which says the device and dtype the policy had.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python}"  # the environment with torch, raas and raas-client[train]

"$PYTHON" - <<'PY'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("toy_grounding_cuda.sh: no CUDA device here; on CPU run bench/toy_grounding.py")
print(f"CUDA: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PY

if [[ -n "${WHEELS:-}" ]]; then
  "$PYTHON" -m pip install --no-index --find-links "$WHEELS" . "./clients/python[train]"
fi

RESULTS="${RESULTS:-bench/results/toy_grounding_cuda}"
"$PYTHON" bench/toy_grounding.py --device cuda --dtype auto --out "$RESULTS" "$@"

"$PYTHON" - "$RESULTS/summary.json" <<'PY'
import json
import sys

policy = json.load(open(sys.argv[1]))["policy"]
assert policy == {"device": "cuda", "dtype": "bfloat16"}, policy
print("policy:", policy)
PY
