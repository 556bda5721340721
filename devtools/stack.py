"""The compose stack as the tests drive it: its services in start order, and a reward-model
sample for its model worker (the tiny RM the tests build)."""

from __future__ import annotations

SERVICES = ("rules-1", "rules-2", "model", "router")
RM_SAMPLE = {
    "id": "rm",
    "verifier": "rm",
    "params": {"model": "rm"},
    "prompt": "2+2?",
    "response": "4",
}
