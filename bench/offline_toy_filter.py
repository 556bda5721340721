"""Difficulty filtering on the toy GRPO task: k = 8 rollouts per prompt, scored, then filtered.

The toy model of ``bench/toy_arithmetic.py`` (a 2-layer, 128-wide Llama warm-started for 400
steps on answers of which half are off by one) writes 8 sampled answers (temperature 1) to each
of the 155 prompts of ``devtools.toy.arithmetic_rows``; ``raas score`` scores them with ``math``,
``raas filter difficulty`` keeps the prompts with 0 < pass rate < 1, and ``raas report`` shows
the pass-rate histogram. Results: ``bench/results/offline/toy_filter/``.

    python bench/offline_toy_filter.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _harness import ROOT, machine, write
from toy_arithmetic import HIDDEN, NOISE, WARM_STEPS
from transformers import AutoModelForCausalLM, AutoTokenizer

from devtools.toy import arithmetic_rows, save_toy

K, MAX_NEW_TOKENS, SEED = 8, 8, 0
RAAS = [sys.executable, "-m", "reward_service.cli"]


def rollouts(model_dir: Path) -> list[dict[str, Any]]:
    """K sampled completions of every prompt, one row each with its reward spec."""
    torch.manual_seed(SEED)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rows = []
    for prompt_row in arithmetic_rows():
        ids = tokenizer([prompt_row["prompt"]] * K, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **ids,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                max_new_tokens=MAX_NEW_TOKENS,
                pad_token_id=tokenizer.pad_token_id,
            )
        width = ids["input_ids"].shape[1]
        for sequence in out:
            response = tokenizer.decode(sequence[width:], skip_special_tokens=True)
            rows.append({**prompt_row, "response": response})
    return rows


def main() -> None:
    out = ROOT / "bench/results/offline/toy_filter"
    work = Path(tempfile.mkdtemp(prefix="raas-toy-filter-"))
    start = time.perf_counter()
    save_toy(work / "model", warm_steps=WARM_STEPS, noise=NOISE, hidden=HIDDEN)
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    rows = rollouts(work / "model")
    generate_s = time.perf_counter() - start
    source = work / "rollouts.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    scored, kept = work / "scored.parquet", out / "kept_prompts.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *RAAS,
            "score",
            str(source),
            "--out",
            str(scored),
            "--workers",
            "2",
            "--summary",
            str(work / "summary.json"),
        ],
        check=True,
    )
    subprocess.run(
        [
            *RAAS,
            "filter",
            "difficulty",
            str(scored),
            "--out",
            str(kept),
            "--report",
            str(out / "filter"),
        ],
        check=True,
    )
    subprocess.run(
        [*RAAS, "report", str(scored), "--out", str(out / "report"), "--group-by", "prompt"],
        check=True,
    )
    filtered = json.loads((out / "filter" / "filter.json").read_text())
    result = {
        "benchmark": "difficulty filter on the toy GRPO task, k = 8",
        "machine": machine(),
        "prompts": len(rows) // K,
        "rollouts": len(rows),
        "k": K,
        "warm_start_s": round(warm_s, 1),
        "generate_s": round(generate_s, 1),
        "score": json.loads((work / "summary.json").read_text()),
        "filter": filtered["total"],
        "by_source": filtered["by_source"],
        "pass_rates": filtered["pass_rates"],
    }
    write(result, out / "toy_filter.json")


if __name__ == "__main__":
    main()
