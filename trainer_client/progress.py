"""The training step, counted on the trainer side for trainers that never tell their reward
function which step it is (OpenRLHF's ``reward_func``; verl stamps its rollouts with the step,
which :mod:`trainer_client.verl` reads instead).

A :class:`StepCounter` counts the training samples this process has scored; the step of a call
is ``start_step + samples before it // samples_per_step``. Validation calls read the step and
do not advance it. The router stays stateless: the step travels in each request, as from TRL or
``raas-train``.

The counters live here, in a module imported the ordinary way, because OpenRLHF loads a
reward-function file by path, as a fresh module: state kept in that file would be lost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class StepCounter:
    """``samples_per_step``: the training samples this process scores per training step;
    ``None`` takes the size of the first training call (one call per step)."""

    samples_per_step: int | None = None
    start_step: int = 0  # a resumed run starts here
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.samples_per_step is not None and self.samples_per_step < 1:
            raise ValueError("samples_per_step must be at least 1")
        if self.start_step < 0:
            raise ValueError("start_step must not be negative")

    def step(self, count: int, *, training: bool = True) -> int:
        """The step of a call that scores ``count`` samples; a training call advances the count."""
        with self._lock:
            if training and self.samples_per_step is None and count > 0:
                self.samples_per_step = count
            per_step = self.samples_per_step or 1
            current = self.start_step + self.seen // per_step
            if training:
                self.seen += count
            return current


_counters: dict[tuple[Hashable, ...], StepCounter] = {}
_counters_lock = threading.Lock()


def counter_for(
    key: tuple[Hashable, ...], samples_per_step: int | None, start_step: int = 0
) -> StepCounter:
    """This process's counter for ``key`` (a forked child starts its own)."""
    full = (os.getpid(), samples_per_step, start_step, *key)
    with _counters_lock:
        if full not in _counters:
            _counters[full] = StepCounter(samples_per_step, start_step)
        return _counters[full]
