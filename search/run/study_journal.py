"""The sweep recorded as an Optuna study in the sweep folder, as it runs: what ``optuna-dashboard`` shows live.

Whatever the searcher (grid, random, Optuna, SMAC, BOHB, PBT), a Ray Tune callback on the driver
mirrors each trial into an Optuna journal file (``optuna.journal``): its values and their
distributions when it starts, every reported value of the sweep metric as an intermediate value,
and its end (complete, pruned for a trial the scheduler stopped, failed, or infeasible as failed
with the reason). The journal file is append-only with a lock, so the dashboard reads it while the
sweep writes. ``hpo resume`` and ``hpo extend`` open the same study and find each trial again by
its Ray trial id; a trial already ended there is left as it was.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from ray.tune import Callback

from hpo.layout import STUDY_JOURNAL
from hpo.params import run_params
from hpo.search.algorithms.space import Param, to_optuna
from hpo.trial_status import INFEASIBLE, error_summary, outcome

RAY_TRIAL_ID = "ray_trial_id"  # the user attribute that ties an Optuna trial to its Ray trial
ENDED = {"finished": TrialState.COMPLETE, "stopped": TrialState.PRUNED, "infeasible": TrialState.FAIL}


def journal_storage(sweep_dir: str | Path) -> JournalStorage:
    """The storage of ``<sweep>/optuna.journal``, which ``optuna-dashboard`` and ``optuna.load_study`` open too."""
    return JournalStorage(JournalFileBackend(str(Path(sweep_dir) / STUDY_JOURNAL)))


def open_study(storage: BaseStorage, name: str, metric: str, mode: str) -> optuna.Study:
    """The sweep's study, created in ``storage`` the first time, its objective named after the sweep metric."""
    direction = "maximize" if mode == "max" else "minimize"
    study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    if study.metric_names != [metric]:
        with warnings.catch_warnings():  # set_metric_names is experimental in Optuna; the dashboard shows the name
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric])
    return study


class StudyJournalCallback(Callback):
    """Mirror Ray Tune's trials into the sweep's Optuna study (see the module docstring)."""

    def __init__(self, sweep_dir: Path, name: str, metric: str, mode: str, params: list[Param]) -> None:
        self.sweep_dir, self.name, self.metric, self.mode = sweep_dir, name, metric, mode
        self.distributions = to_optuna(params)
        self._storage: BaseStorage | None = None
        self._study_id = -1
        self._ids: dict[str, int] = {}  # Ray trial id -> Optuna's trial id in the storage

    def __getstate__(self) -> dict[str, Any]:  # Ray pickles the callbacks with the Tuner: the storage holds a file lock
        return {**self.__dict__, "_storage": None}

    @property
    def storage(self) -> BaseStorage:
        """Optuna's storage API: it records running trials and their intermediate values, which ``Study.tell`` cannot."""
        if self._storage is None:
            self._storage = journal_storage(self.sweep_dir)
            study = open_study(self._storage, self.name, self.metric, self.mode)
            self._study_id = self._storage.get_study_id_from_name(self.name)
            for trial in study.get_trials(deepcopy=False):  # a resumed or extended sweep: the trials it has
                if RAY_TRIAL_ID in trial.user_attrs:
                    self._ids[trial.user_attrs[RAY_TRIAL_ID]] = self._storage.get_trial_id_from_study_id_trial_number(
                        self._study_id, trial.number)
        return self._storage

    def setup(self, **info: Any) -> None:
        _ = self.storage  # the journal exists from the start: the dashboard can open it before the first trial

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        storage = self.storage
        if trial.trial_id in self._ids:
            return
        params = {k: v for k, v in run_params(trial.config).items() if k in self.distributions}
        distributions = {k: self.distributions[k] for k in params}
        template = FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.now(), datetime_complete=None,
            params=params, distributions=distributions, user_attrs={RAY_TRIAL_ID: trial.trial_id},
            system_attrs={}, intermediate_values={}, trial_id=-1,
        )
        try:
            self._ids[trial.trial_id] = storage.create_new_trial(self._study_id, template_trial=template)
        except ValueError:  # a value outside its distribution (a PBT mutation): record the trial without it
            template.params, template.distributions = {}, {}
            self._ids[trial.trial_id] = storage.create_new_trial(self._study_id, template_trial=template)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get(self.metric)
        trial_id = self._ids.get(trial.trial_id)
        if trial_id is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if self._updatable(trial_id):
            self.storage.set_trial_intermediate_value(trial_id, int(result.get("training_iteration", 0)), float(value))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        ended = outcome("TERMINATED", trial.last_result)
        reason = (trial.last_result or {}).get(INFEASIBLE)
        self._end(trial, ENDED.get(ended, TrialState.COMPLETE), f"infeasible: {reason}" if reason else None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, TrialState.FAIL, error_summary(trial.error_file))

    def _end(self, trial: Any, state: TrialState, reason: str | None) -> None:
        trial_id = self._ids.get(trial.trial_id)
        if trial_id is None or not self._updatable(trial_id):
            return
        storage = self.storage
        if reason:
            storage.set_trial_user_attr(trial_id, "failure", reason)
        best = self._best(storage.get_trial(trial_id).intermediate_values)
        if state == TrialState.COMPLETE and best is None:
            state = TrialState.FAIL  # no evaluation reported: Optuna keeps no value-less completed trial
        storage.set_trial_state_values(trial_id, state, [best] if state == TrialState.COMPLETE else None)

    def _best(self, values: dict[int, float]) -> float | None:
        """The trial's best reported value: hpo ranks every trial by its best evaluation, not its last."""
        if not values:
            return None
        return (max if self.mode == "max" else min)(values.values())

    def _updatable(self, trial_id: int) -> bool:
        return not self.storage.get_trial(trial_id).state.is_finished()
