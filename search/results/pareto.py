"""A multi-objective or constrained sweep's trade-offs: which trials break a constraint, and the Pareto front.

Each trial's values are those of its best evaluation by the primary metric (``record.best``), the
evaluation its checkpoint keeps; a trial that breaks a ``sweep.constraints`` bound there is never on
the front, and never ``best/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hpo.objectives import Constraint, Objective, constraints, is_multi_objective, objectives, pareto_front
from hpo.search.results.records import SweepResults, TrialRecord

FRONT, DOMINATED = "Pareto front", "dominated"


@dataclass
class TradeOffs:
    """The sweep's objectives and constraints, the trials on the front (rank order) and what each other trial broke."""

    objectives: list[Objective]
    constraints: list[Constraint]
    front: list[str] = field(default_factory=list)
    broken: dict[str, list[str]] = field(default_factory=dict)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def label(self, trial_id: str) -> str:
        """The leaderboard's cell: on the front, dominated, or the constraints it broke."""
        if trial_id in self.broken:
            return "breaks " + ", ".join(self.broken[trial_id])
        if not self.multi_objective:
            return "meets the constraints"
        return FRONT if trial_id in self.front else DOMINATED

    def feasible(self, record: TrialRecord) -> bool:
        return record.best is not None and record.trial_id not in self.broken


def trade_offs(results: SweepResults) -> TradeOffs | None:
    """The front and the broken constraints of a sweep with ``sweep.objectives`` or ``sweep.constraints``; None without."""
    sweep = results.config["sweep"]
    goals, limits = objectives(sweep), constraints(sweep)
    if not is_multi_objective(sweep) and not limits:
        return None
    found = TradeOffs(goals, limits)
    evaluated = results.evaluated
    for record in evaluated:
        broken = [str(c) for c in limits if c.violation(record.best) > 0]
        if broken:
            found.broken[record.trial_id] = broken
    points = {r.trial_id: [float(r.best[g.metric]) for g in goals] for r in evaluated
              if r.trial_id not in found.broken and all(_finite(r.best.get(g.metric)) for g in goals)}
    if found.multi_objective:
        found.front = pareto_front(points, [g.mode for g in goals])
    return found


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
