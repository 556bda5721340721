"""Request parsing at RL batch sizes: which JSON path should the router use?

Compares, for a 1,024-sample /reward body with 2 kB responses: pydantic-core's
``model_validate_json`` (parse + validate in Rust), ``orjson.loads`` + ``model_validate``, and
stdlib ``json.loads`` + ``model_validate``; and orjson vs stdlib for serialising the response.
Then the router's own path (``from_json`` + ``validate_python``) with ``from_json``'s string
cache on every string (its default) against keys only, on that body and on 4,096 short
``choice`` samples (``router_path_ms``).

    python bench/bench_parse.py [--out bench/results/parse.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic_core import from_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _harness import alternating  # noqa: E402

from reward_service.contract.schemas import RewardRequest  # noqa: E402


def body(n: int = 1024) -> bytes:
    samples = [
        {
            "id": i,
            "data_source": "math",
            "verifier": "math",
            "ground_truth": "\\frac{1}{2}",
            "response": "<think>\n" + "step " * 400 + f"\n</think>\n\\boxed{{{i}}}",
        }
        for i in range(n)
    ]
    return orjson.dumps({"samples": samples, "step": 3, "total_steps": 100})


def short_body(n: int = 4096) -> bytes:
    samples = [
        {
            "verifier": "choice",
            "ground_truth": "ABCD"[i % 4],
            "response": f"Comparing the options, ({'ABCD'[(i // 4) % 4]}) fits best. #{i}",
        }
        for i in range(n)
    ]
    return orjson.dumps({"samples": samples})


def router_path(raw: bytes, cache: bool | str) -> Callable[[], object]:
    return lambda: RewardRequest.model_validate(from_json(raw, cache_strings=cache))


def results(n: int = 1024) -> dict[str, Any]:
    rows = [
        {
            "id": i,
            "reward": 0.5,
            "status": "ok",
            "components": {"accuracy": 1.0, "format": 0.0},
            "details": {"extracted": ["1/2"]},
            "error": None,
        }
        for i in range(n)
    ]
    return {"results": rows, "summary": {"by_source": {}}}


def median_ms(fn: Callable[[], object], repeat: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/parse.json")
    args = parser.parse_args()
    raw, payload = body(), results()
    result = {
        "benchmark": "parse a 1,024-sample /reward body; serialise its response",
        "body_bytes": len(raw),
        "parse_ms": {
            "pydantic_model_validate_json": median_ms(
                lambda: RewardRequest.model_validate_json(raw)
            ),
            "orjson_loads_then_validate": median_ms(
                lambda: RewardRequest.model_validate(orjson.loads(raw))
            ),
            "json_loads_then_validate": median_ms(
                lambda: RewardRequest.model_validate(json.loads(raw))
            ),
        },
        "router_path_ms": {
            f"{name}_{label}": round(seconds * 1000, 3)
            for name, text in (("long_1024", raw), ("short_4096", short_body()))
            for label, seconds in alternating(
                {
                    "cache_all_strings": router_path(text, True),
                    "cache_keys": router_path(text, "keys"),
                },
                rounds=40,
            ).items()
        },
        "serialise_ms": {
            "orjson_dumps": median_ms(lambda: orjson.dumps(payload)),
            "json_dumps": median_ms(lambda: json.dumps(payload).encode()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
