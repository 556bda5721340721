"""DAPO's dynamic sampling with refills: roll out more prompts until a step has its groups.

A group whose rollouts are all right or all wrong teaches nothing (every advantage is 0), so it
is dropped; without refilling, a step of 16 prompts with 10 such groups would update on 6. As in
DAPO (``max_num_gen_batches``), more prompts are rolled out, for at most ``max_refill_rounds``
extra rounds, until ``target`` groups with signal are in hand (the first ``target`` are kept) or
the rounds run out (the update takes what there is).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

G = TypeVar("G")


@dataclass(frozen=True, slots=True)
class Collected(Generic[G]):
    kept: list[G]  # what the update uses: at most ``target``, in rollout order
    generated: list[G]  # every group rolled out, all rounds
    with_signal: int  # of ``generated``: kept plus those past ``target``
    refill_rounds: int  # rounds after the first


def refill_size(missing: int, kept: int, generated: int, cap: int) -> int:
    """Prompts for the next round: the missing groups at the keep rate so far, at most ``cap``
    (all of ``cap`` while nothing has been kept)."""
    if kept == 0:
        return cap
    return max(1, min(cap, math.ceil(missing * generated / kept)))


def collect(
    roll_out: Callable[[int], list[G]],
    target: int,
    max_refill_rounds: int,
    has_signal: Callable[[G], bool],
) -> Collected[G]:
    """``roll_out(n)`` rolls out and scores ``n`` fresh prompts' groups."""
    generated: list[G] = []
    signal: list[G] = []
    rounds, size = 0, target
    while True:
        groups = roll_out(size)
        generated.extend(groups)
        signal.extend(g for g in groups if has_signal(g))
        if len(signal) >= target or rounds >= max_refill_rounds:
            break
        rounds += 1
        size = refill_size(target - len(signal), len(signal), len(generated), target)
    return Collected(signal[:target], generated, len(signal), rounds)
