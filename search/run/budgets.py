"""Sweep-level budgets: stop the whole sweep at a wall time, a compute total, a target or a plateau.

A budget is a Ray Tune ``Stopper`` (Tune asks it after every result whether to stop all trials),
fed by a ``Callback`` that also sees trials end, which a plateau needs and a stopper never sees.
Ray's own ``TimeoutStopper`` and ``ExperimentPlateauStopper`` stop the sweep but cannot say which
limit fired, and Ray's plateau is the spread of the top results, not "N trials in a row did not
beat the best"; here one object holds every limit, says what it has spent in the progress line,
and writes what stopped the sweep to ``budget.json`` for the leaderboard.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

from hpo.layout import BUDGET_FILE
from hpo.ranking import is_better

# Keys of ``sweep.budget``: each is off when null.
LIMITS = ("wall_time_s", "epochs", "gpu_hours", "target", "plateau_trials")


def has_budget(budget: dict[str, Any]) -> bool:
    """Whether any sweep-level limit is set."""
    return any(budget[key] is not None for key in LIMITS)


class SweepBudget(Callback):
    """The sweep's limits and what it has spent; :attr:`stopper` is what Tune asks.

    Compute is counted from what trials report: each trial's latest ``epoch`` (fractional, so an
    evaluation mid-epoch counts its part) and ``time_total_s`` times the GPUs it holds. The wall
    time counts from the start of this run (``hpo sweep``, ``resume`` or ``extend``).
    """

    def __init__(self, budget: dict[str, Any], metric: str, mode: str, gpus_per_trial: float, sweep_dir: Path) -> None:
        self.budget, self.metric, self.mode = budget, metric, mode
        self.gpus_per_trial, self.path = gpus_per_trial, sweep_dir / BUDGET_FILE
        self.started = time.monotonic()
        self.epochs: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.best: float | None = None
        self.reference: float | None = None  # the best when the plateau count last restarted
        self.trials_without_improvement = 0
        self.reason: str | None = None
        self.stopper = _BudgetStopper(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Ray pickles the callbacks with the Tuner; ``hpo resume`` unpickles them in a new process,
        where the wall time of this run starts now (a monotonic clock is not comparable across runs)."""
        self.__dict__.update(state)
        self.started = time.monotonic()

    # ----------------------------------------------------------------- what was spent

    def spent(self) -> dict[str, float]:
        return {
            "wall_time_s": round(time.monotonic() - self.started, 1),
            "epochs": round(sum(self.epochs.values()), 3),
            "gpu_hours": round(sum(self.seconds.values()) * self.gpus_per_trial / 3600, 4),
            "plateau_trials": self.trials_without_improvement,
        }

    def describe(self) -> str:
        """The progress line's view: each set limit as spent/limit."""
        spent, parts = self.spent(), []
        for key, unit in (("wall_time_s", "s"), ("epochs", "ep"), ("gpu_hours", "GPU-h"), ("plateau_trials", "trials flat")):
            if self.budget[key] is not None:
                parts.append(f"{spent[key]:g}/{self.budget[key]:g} {unit}")
        if self.budget["target"] is not None:
            parts.append(f"target {self.budget['target']:g}")
        return "budget " + ", ".join(parts) if parts else ""

    # ----------------------------------------------------------------- Tune's hooks

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        trial_id = trial.trial_id
        self.epochs[trial_id] = float(result.get("epoch", self.epochs.get(trial_id, 0.0)))
        self.seconds[trial_id] = float(result.get("time_total_s", self.seconds.get(trial_id, 0.0)))
        value = result.get(self.metric)
        if value is not None and is_better(value, self.best, self.mode):
            self.best = value
        self._check_result(trial_id, value)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_trial_end()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_trial_end()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._write()

    # ----------------------------------------------------------------- the limits

    def _check_result(self, trial_id: str, value: float | None) -> None:
        target, spent = self.budget["target"], self.spent()
        if target is not None and value is not None and (value >= target if self.mode == "max" else value <= target):
            self._stop(f"target reached: trial {trial_id} has {self.metric}={value:.4g} ({'>=' if self.mode == 'max' else '<='} {target:g})")
        for key, unit in (("epochs", "epochs"), ("gpu_hours", "GPU-hours")):
            if self.budget[key] is not None and spent[key] >= self.budget[key]:
                self._stop(f"{unit} budget spent: {spent[key]:g} of {self.budget[key]:g}")

    def _count_trial_end(self) -> None:
        patience = self.budget["plateau_trials"]
        if patience is None or self.best is None:
            return
        delta = self.budget["plateau_min_delta"]
        bar = None if self.reference is None else self.reference + (delta if self.mode == "max" else -delta)
        if is_better(self.best, bar, self.mode):
            self.reference, self.trials_without_improvement = self.best, 0
            return
        self.trials_without_improvement += 1
        if self.trials_without_improvement >= patience:
            self._stop(f"plateau: {patience} trials in a row ended without improving the best {self.metric} "
                       f"({self.best:.4g}) by more than {delta:g}")

    def check_wall_time(self) -> None:
        limit = self.budget["wall_time_s"]
        if limit is not None and time.monotonic() - self.started >= limit:
            self._stop(f"wall-time budget spent: {limit:g} s")

    def _stop(self, reason: str) -> None:
        if self.reason is None:  # the first limit reached is the one that stopped the sweep
            self.reason = reason
            self._write()

    def _write(self) -> None:
        record = {"limits": {k: self.budget[k] for k in (*LIMITS, "plateau_min_delta")}, "spent": self.spent(), "stopped_by": self.reason}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, indent=2) + "\n")


class _BudgetStopper(Stopper):
    """Tune's side of :class:`SweepBudget`: never stops one trial, stops them all once a limit is reached."""

    def __init__(self, budget: SweepBudget) -> None:
        self.budget = budget

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        self.budget.check_wall_time()
        return self.budget.reason is not None
