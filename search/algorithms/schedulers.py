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


def _fifo(cfg: dict[str, Any]) -> TrialScheduler:
    return FIFOScheduler()


def _asha(cfg: dict[str, Any]) -> TrialScheduler:
    max_t, grace, factor = cfg["max_t"], cfg["grace_period"], cfg["reduction_factor"]
    if not (isinstance(grace, int) and grace >= 1):
        raise ConfigError("scheduler.grace_period", "must be an integer >= 1", value=grace)
    if not (isinstance(max_t, int) and max_t >= grace):
        raise ConfigError("scheduler.max_t", f"must be an integer >= grace_period ({grace})", value=max_t)
    if not (isinstance(factor, (int, float)) and factor > 1):
        raise ConfigError("scheduler.reduction_factor", "must be > 1", value=factor)
    return ASHAScheduler(time_attr=TIME_ATTR, max_t=max_t, grace_period=grace, reduction_factor=factor)


SCHEDULERS: dict[str, Callable[[dict[str, Any]], TrialScheduler]] = {"fifo": _fifo, "asha": _asha}


def build_scheduler(cfg: dict[str, Any]) -> TrialScheduler:
    """Build the scheduler named by ``scheduler.name``.

    Raises:
        ConfigError: unknown name or impossible settings.
    """
    name = cfg.get("name")
    if name not in SCHEDULERS:
        raise unknown_name_error("scheduler.name", name, SCHEDULERS)
    return SCHEDULERS[name](cfg)
