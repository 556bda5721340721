"""How much of a bfloat16 policy one AdamW step moves at V-Triune's learning rate (1e-6), with
and without raas-train's float32 master weights (``trainer_client.grpo.optim.MasterWeights``).

bfloat16 keeps 8 significant bits: a weight near 0.02 moves in steps of 1.2e-4, while AdamW's
update is about lr per element. The toy Llama of the text task (hidden 256, 2 layers, 1.3 M
parameters, initialised with std 0.02 as real checkpoints roughly are) takes language-model loss
steps on random tokens (1, then 100 from the start again) in three ways: float32 weights,
bfloat16 weights with AdamW on them, bfloat16 weights through float32 master copies (where the
share of *master* weights moved is reported too: what accumulates across steps). Written to
``bench/results/bf16_updates.json``.

    python bench/bench_bf16_updates.py [--lr 1e-6] [--steps 1 100]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from devtools.toy import build_model, build_tokenizer
from trainer_client.grpo.optim import MasterWeights

RESULTS = Path(__file__).parent / "results" / "bf16_updates.json"


def share_moved(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    moved = sum(int((a != b).sum()) for a, b in zip(before, after, strict=True))
    return moved / sum(t.numel() for t in before)


def run(mode: str, lr: float, steps: int) -> dict[str, Any]:
    model = build_model(build_tokenizer(), hidden=256, layers=2, seed=0)
    if mode != "float32":
        model = model.to(torch.bfloat16)
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    optimizer: Any = (
        MasterWeights(params, lr, 0.0)
        if mode == "bfloat16+master"
        else torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    )
    for step in range(steps):
        ids = torch.randint(5, 90, (4, 32), generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    result = {
        "mode": mode,
        "parameters": sum(p.numel() for p in params),
        "weights_moved": share_moved(before, [p.detach() for p in params]),
    }
    if isinstance(optimizer, MasterWeights):
        start = [b.float() for b in before]
        result["master_moved"] = share_moved(start, optimizer.master)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    torch.manual_seed(0)
    modes = ("float32", "bfloat16", "bfloat16+master")
    results = [{"steps": n, **run(mode, args.lr, n)} for n in args.steps for mode in modes]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"lr": args.lr, "runs": results}, indent=2))
    for result in results:
        print(result)


if __name__ == "__main__":
    main()
