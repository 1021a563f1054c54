"""What a sweep trades off: its objectives (``sweep.metric`` first, then ``sweep.objectives``) and its constraints.

``sweep.metric`` and ``sweep.mode`` stay the primary objective: ASHA stops trials by it, and
``best/`` is the best trial by it. ``sweep.objectives`` lists the others as ``<metric>:<max|min>``
(``eval/latency_ms:min``); with any, the sweep is multi-objective: Optuna's sampler searches the
trade-off, and the leaderboard marks the Pareto front. ``sweep.constraints`` lists
``<metric><=<bound>`` or ``<metric>>=<bound>`` (``eval/latency_ms<=20``): a trial that breaks one is
infeasible for Optuna's samplers (their ``constraints_func``) and never on the front. Every trial's
values are those of its best evaluation by the primary metric, the evaluation its checkpoint keeps.

Pure parsing and arithmetic: the driver's config check, the searcher and the results all read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.errors import ConfigError

MODES = ("max", "min")
_CONSTRAINT = re.compile(r"^\s*(?P<metric>[^<>=\s]+)\s*(?P<op><=|>=)\s*(?P<bound>[-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (``op`` "<=") or ``metric >= bound``."""

    metric: str
    op: str
    bound: float

    def violation(self, row: Mapping[str, Any]) -> float:
        """Optuna's constraint value: at most 0 when the row meets the constraint, the excess above 0 when
        it breaks it; a row without the metric (or with NaN) breaks it by 1."""
        value = row.get(self.metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return 1.0
        return float(value - self.bound if self.op == "<=" else self.bound - value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def objectives(sweep: Mapping[str, Any]) -> list[Objective]:
    """The primary objective, then ``sweep.objectives``.

    Raises:
        ConfigError: an entry that is not ``<metric>:<max|min>``, or a metric listed twice.
    """
    found = [Objective(sweep["metric"], sweep["mode"])]
    for i, entry in enumerate(sweep.get("objectives") or []):
        metric, sep, mode = str(entry).rpartition(":")
        if not sep or not metric or mode not in MODES:
            raise ConfigError(f"sweep.objectives[{i}]", "expected <metric>:<max|min>, e.g. eval/latency_ms:min", value=entry,
                              choices=list(MODES))
        if metric in {o.metric for o in found}:
            raise ConfigError(f"sweep.objectives[{i}]", "this metric is already an objective (sweep.metric is the first)",
                              value=entry)
        found.append(Objective(metric, mode))
    return found


def constraints(sweep: Mapping[str, Any]) -> list[Constraint]:
    """``sweep.constraints`` parsed.

    Raises:
        ConfigError: an entry that is not ``<metric><=<bound>`` or ``<metric>>=<bound>``.
    """
    found = []
    for i, entry in enumerate(sweep.get("constraints") or []):
        match = _CONSTRAINT.match(str(entry))
        if match is None:
            raise ConfigError(f"sweep.constraints[{i}]", "expected <metric><=<number> or <metric>>=<number>, "
                              "e.g. eval/latency_ms<=20", value=entry)
        found.append(Constraint(match["metric"], match["op"], float(match["bound"])))
    return found


def is_multi_objective(sweep: Mapping[str, Any]) -> bool:
    return bool(sweep.get("objectives"))


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether values ``a`` are at least as good as ``b`` in every objective and better in one."""
    better = [x > y if m == "max" else x < y for x, y, m in zip(a, b, modes, strict=True)]
    worse = [x < y if m == "max" else x > y for x, y, m in zip(a, b, modes, strict=True)]
    return any(better) and not any(worse)


def pareto_front(points: Mapping[str, Sequence[float]], modes: Sequence[str]) -> list[str]:
    """The keys of the points no other point dominates (ties kept), in the order given."""
    return [key for key, values in points.items()
            if not any(dominates(other, values, modes) for k, other in points.items() if k != key)]
