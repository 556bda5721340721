"""V-Triune's dynamic IoU threshold: τ rises with training progress r = step/total_steps.

``dynamic_schedule`` is a list of pairs [r_max, τ] checked in order against r, bounds inclusive;
past the last bound its τ holds; with no step (or no total) r = 0. The default is V-Triune's
curriculum: τ 0.85 for the first 10 % of training, 0.95 until 25 %, then 0.99.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import AfterValidator, Field

from reward_service.contract.registry import Context

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Bound = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Pairs = tuple[tuple[float, float], ...]


def _curriculum(pairs: Pairs) -> Pairs:
    if not pairs or any(a[0] >= b[0] for a, b in pairwise(pairs)):
        raise ValueError("needs ≥ 1 [ratio_upper_bound, tau] pair, bounds strictly rising")
    if any(a[1] > b[1] for a, b in pairwise(pairs)):
        raise ValueError("tau must not fall as training advances")
    return pairs


Schedule = Annotated[tuple[tuple[Bound, Unit], ...], AfterValidator(_curriculum)]
DEFAULT_SCHEDULE: Pairs = ((0.10, 0.85), (0.25, 0.95), (1.0, 0.99))


def dynamic_tau(schedule: Pairs, context: Context) -> float:
    """τ for r = step/total_steps: the first pair whose bound r does not exceed."""
    step, total = context.step, context.total_steps
    ratio = step / total if step is not None and total is not None and total > 0 else 0.0
    return next((tau for bound, tau in schedule if ratio <= bound), schedule[-1][1])
