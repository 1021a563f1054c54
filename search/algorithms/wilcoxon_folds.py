"""Noise-aware pruning of k-fold trials: stop a configuration once its folds are significantly worse.

A k-fold trial reports after each fold (``cv/fold<i>/<metric>``). A threshold on the running mean
(ASHA's rungs) drops a configuration after one unlucky fold; a paired test asks instead whether
this trial's folds are worse than the best trial's *same* folds by more than fold-to-fold noise.
The test is Optuna's ``WilcoxonPruner`` (a Wilcoxon signed-rank test over the paired folds), used
as Optuna defines it: each Ray trial is mirrored as a trial of an in-memory Optuna study, each fold
is ``report(value, step=fold)``, a finished trial is told its mean, and ``should_prune()`` decides.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpo.errors import ConfigError

_FOLD_KEY = re.compile(r"^cv/fold(\d+)/(.+)$")


class WilcoxonFoldScheduler(FIFOScheduler):
    """Stops a k-fold trial when Optuna's Wilcoxon pruner says its folds lose to the best trial's."""

    def __init__(self, p_threshold: float, min_folds: int) -> None:
        super().__init__()
        self._p_threshold, self._min_folds = p_threshold, min_folds
        self._study: optuna.Study | None = None
        self._trials: dict[str, optuna.Trial] = {}
        self._reported: dict[str, set[int]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        super().set_search_properties(metric, mode, **spec)
        if metric and mode:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            with warnings.catch_warnings():  # "experimental" since Optuna 3.6: the interface, not the test
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                pruner = optuna.pruners.WilcoxonPruner(p_threshold=self._p_threshold, n_startup_steps=self._min_folds)
            self._study = optuna.create_study(direction="maximize" if mode == "max" else "minimize", pruner=pruner)
            self._metric_name = metric.split("/", 1)[-1]  # cross_validation reports cv/fold<i>/<name>
        return True

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        folds = self._folds(result)
        if self._study is None or not folds:
            return TrialScheduler.CONTINUE
        mirrored = self._mirror(trial.trial_id)
        for fold, value in sorted(folds.items()):
            if fold not in self._reported[trial.trial_id]:
                mirrored.report(value, step=fold)
                self._reported[trial.trial_id].add(fold)
        if len(folds) < result.get("evaluations_planned", len(folds) + 1) and mirrored.should_prune():
            self._study.tell(mirrored, state=optuna.trial.TrialState.PRUNED)
            self._trials.pop(trial.trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        mirrored = self._trials.pop(trial.trial_id, None)
        value = result.get(self._metric) if result else None
        if mirrored is not None and value is not None:
            self._study.tell(mirrored, value)  # the best complete trial is what later trials are tested against

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        mirrored = self._trials.pop(trial.trial_id, None)
        if mirrored is not None:
            self._study.tell(mirrored, state=optuna.trial.TrialState.FAIL)

    def _mirror(self, trial_id: str) -> optuna.Trial:
        if trial_id not in self._trials:
            self._trials[trial_id] = self._study.ask()
            self._reported[trial_id] = set()
        return self._trials[trial_id]

    def _folds(self, result: dict) -> dict[int, float]:
        folds = {}
        for key, value in result.items():
            match = _FOLD_KEY.match(key)
            if match and match.group(2) == self._metric_name:
                folds[int(match.group(1))] = float(value)
        return folds


def wilcoxon_settings(cfg: dict[str, Any], cv_folds: int | None) -> tuple[float, int]:
    """``scheduler.p_threshold`` and ``scheduler.grace_period`` (folds before any test), checked.

    Raises:
        ConfigError: no k-fold CV to test, a p-value threshold outside (0, 1), or a grace period
            that leaves no fold to prune.
    """
    if not cv_folds or cv_folds < 3:
        raise ConfigError("trainer.cv_folds", "scheduler=wilcoxon tests a trial's folds against the best trial's; set a fold "
                          "count >= 3 (at p_threshold 0.1 a trial needs 4 folds compared to be pruned: use 5 or more)", value=cv_folds)
    p = cfg["p_threshold"]
    if not (isinstance(p, (int, float)) and 0 < p < 1):
        raise ConfigError("scheduler.p_threshold", "must be in (0, 1)", value=p)
    grace = cfg["grace_period"]
    if not (isinstance(grace, int) and 1 <= grace < cv_folds):
        raise ConfigError("scheduler.grace_period", f"folds before the first test: an integer from 1 to {cv_folds - 1} "
                          f"(trainer.cv_folds is {cv_folds})", value=grace)
    return float(p), grace
