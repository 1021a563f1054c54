"""How many evaluations a trial makes: one formula for the training loop and for ASHA's ``max_t``.

The loop reports once per evaluation (``training_iteration``) and tells the sweep how many it
planned (``evaluations_planned``); ASHA counts the same reports. Both take the count from here, so
a scheduler can never be sized for a different trial than the one that runs.
"""

from __future__ import annotations

import math


def optimizer_steps_per_epoch(train_rows: int, batch_size: int, accumulate: int, world_size: int = 1) -> int:
    """Optimizer steps in one epoch: batches (dealt out to ``world_size`` data-parallel ranks, the
    last round padded) grouped ``accumulate`` at a time, the last group possibly short."""
    batches = math.ceil(train_rows / batch_size)
    return steps_for_batches(math.ceil(batches / world_size), accumulate)


def steps_for_batches(batches: int, accumulate: int) -> int:
    """Optimizer steps over ``batches`` micro-batches taken ``accumulate`` at a time (the loop, which
    knows its loader's length, counts with this too)."""
    return math.ceil(batches / max(1, accumulate))


def planned_evaluations(steps_per_epoch: int, epochs: int, eval_every_steps: int | None) -> int:
    """Evaluations of a run: every ``eval_every_steps`` optimizer steps (default: once per epoch)
    and once more at the last step if it does not fall on one."""
    total = steps_per_epoch * epochs
    return math.ceil(total / (eval_every_steps or steps_per_epoch))
