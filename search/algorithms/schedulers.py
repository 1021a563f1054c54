"""Scheduler registry: a name in ``scheduler.name`` to a Ray Tune trial scheduler.

The scheduler owns stopping. Metric and mode are not passed here: the Tuner's ``TuneConfig``
sets them once for the searcher and the scheduler alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from hpo.errors import ConfigError, unknown_name_error

# Trials report once per evaluation, so ASHA's times count evaluations.
TIME_ATTR = "training_iteration"


# The most evaluations the longest trial of the space makes; computed on the driver, which has
# the data (hpo.search.run.longest_trial), and only by a scheduler that asks.
MaxEvaluations = Callable[[], int]


def _fifo(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None) -> TrialScheduler:
    return FIFOScheduler()


def _asha(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None) -> TrialScheduler:
    """``max_t: null`` (the default) takes the longest trial's evaluations and records them in
    ``cfg['max_t']``, so the sweep's saved config says what ASHA ran with."""
    grace, factor = cfg["grace_period"], cfg["reduction_factor"]
    if cfg["max_t"] is None:
        if max_evaluations is None:
            raise ConfigError("scheduler.max_t", "null needs the sweep's data to count the longest trial's evaluations; set a count")
        cfg["max_t"] = max_evaluations()
    max_t = cfg["max_t"]
    if not (isinstance(grace, int) and grace >= 1):
        raise ConfigError("scheduler.grace_period", "must be an integer >= 1", value=grace)
    if not (isinstance(max_t, int) and max_t >= grace):
        raise ConfigError("scheduler.max_t", f"must be an integer >= grace_period ({grace})", value=max_t)
    if not (isinstance(factor, (int, float)) and factor > 1):
        raise ConfigError("scheduler.reduction_factor", "must be > 1", value=factor)
    return ASHAScheduler(time_attr=TIME_ATTR, max_t=max_t, grace_period=grace, reduction_factor=factor)


SCHEDULERS: dict[str, Callable[[dict[str, Any], MaxEvaluations | None], TrialScheduler]] = {"fifo": _fifo, "asha": _asha}


def build_scheduler(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None = None) -> TrialScheduler:
    """Build the scheduler named by ``scheduler.name``.

    Args:
        cfg: the ``scheduler`` group.
        max_evaluations: counts the longest trial's evaluations, for a scheduler whose horizon
            is left to hpo (ASHA's ``max_t: null``).

    Raises:
        ConfigError: unknown name or impossible settings.
    """
    name = cfg["name"]
    if name not in SCHEDULERS:
        raise unknown_name_error("scheduler.name", name, SCHEDULERS)
    return SCHEDULERS[name](cfg, max_evaluations)
