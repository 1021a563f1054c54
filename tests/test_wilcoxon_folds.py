"""Noise-aware fold pruning (scheduler=wilcoxon): Optuna's Wilcoxon pruner deciding on Ray trials' folds.

The scheduler is driven here with the results a k-fold trial reports; the sweep end to end runs in
tests/test_sweep_searchers_e2e.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ray.tune.schedulers import TrialScheduler

from hpo.errors import ConfigError
from hpo.search.algorithms.wilcoxon_folds import WilcoxonFoldScheduler, wilcoxon_settings


@dataclass
class _Trial:
    trial_id: str


def _report(scheduler: WilcoxonFoldScheduler, trial: _Trial, folds: list[float], planned: int = 5) -> list[str]:
    """Each fold's report as cross_validation sends it; returns the scheduler's decisions."""
    decisions = []
    for done in range(1, len(folds) + 1):
        result = {"eval/accuracy": sum(folds[:done]) / done, "evaluations_planned": planned, "training_iteration": done,
                  **{f"cv/fold{i}/accuracy": v for i, v in enumerate(folds[:done])}}
        decisions.append(scheduler.on_trial_result(None, trial, result))
        if decisions[-1] == TrialScheduler.STOP:
            break
    return decisions


def _scheduler(mode: str = "max") -> WilcoxonFoldScheduler:
    scheduler = WilcoxonFoldScheduler(p_threshold=0.1, min_folds=2)
    scheduler.set_search_properties("eval/accuracy", mode)
    return scheduler


def test_a_trial_worse_on_every_fold_stops_before_its_last_fold() -> None:
    scheduler = _scheduler()
    best = [0.90, 0.80, 0.85, 0.90, 0.88]
    assert _report(scheduler, _Trial("best"), best) == [TrialScheduler.CONTINUE] * 5
    scheduler.on_trial_complete(None, _Trial("best"), {"eval/accuracy": sum(best) / 5})
    decisions = _report(scheduler, _Trial("worse"), [0.50, 0.40, 0.45, 0.50, 0.49])
    # 4 paired folds, all worse: the one-sided signed-rank p-value is 1/16 < 0.1 (3 folds: 1/8, not enough)
    assert decisions == [TrialScheduler.CONTINUE] * 3 + [TrialScheduler.STOP]


def test_a_trial_that_trades_folds_with_the_best_is_not_stopped_by_one_bad_fold() -> None:
    scheduler = _scheduler()
    best = [0.90, 0.80, 0.85, 0.90, 0.88]
    _report(scheduler, _Trial("best"), best)
    scheduler.on_trial_complete(None, _Trial("best"), {"eval/accuracy": sum(best) / 5})
    # its first fold is far worse (a mean-threshold would drop it), the others better
    assert _report(scheduler, _Trial("unlucky"), [0.40, 0.82, 0.87, 0.92, 0.90]) == [TrialScheduler.CONTINUE] * 5


def test_the_direction_follows_the_sweeps_mode() -> None:
    scheduler = WilcoxonFoldScheduler(p_threshold=0.1, min_folds=2)
    scheduler.set_search_properties("eval/loss", "min")
    low = [0.3, 0.35, 0.32, 0.31, 0.3]

    def report(trial: str, folds: list[float]) -> list[str]:
        out = []
        for done in range(1, len(folds) + 1):
            result = {"eval/loss": folds[done - 1], "evaluations_planned": 5, **{f"cv/fold{i}/loss": v for i, v in enumerate(folds[:done])}}
            out.append(scheduler.on_trial_result(None, _Trial(trial), result))
        return out

    report("low", low)
    scheduler.on_trial_complete(None, _Trial("low"), {"eval/loss": 0.32})
    assert report("lower", [0.2, 0.25, 0.22, 0.21, 0.2]) == [TrialScheduler.CONTINUE] * 5  # better, for a loss
    assert report("higher", [0.6, 0.65, 0.62, 0.61])[-1] == TrialScheduler.STOP


@pytest.mark.parametrize(("scheduler", "folds", "key"), [
    ({"p_threshold": 0.1, "grace_period": 2}, None, "trainer.cv_folds"),
    ({"p_threshold": 1.5, "grace_period": 2}, 5, "scheduler.p_threshold"),
    ({"p_threshold": 0.1, "grace_period": 5}, 5, "scheduler.grace_period"),
])
def test_impossible_settings_name_their_key(scheduler: dict, folds: int | None, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        wilcoxon_settings(scheduler, folds)
