"""SMAC3 as a Ray Tune searcher: a random forest over the results so far proposes each trial.

Ray Tune ships no SMAC searcher, so this adapter drives SMAC's own ask/tell interface (its
hyperparameter-optimisation facade: random forest, expected improvement, local and random
search over the acquisition). The fidelity comes from the sweep's scheduler (ASHA, HyperBand):
each trial is told to SMAC at the number of evaluations it reached, and SMAC's config selector
trains its model on the highest budget that has enough results, as BOHB does. Trials that ASHA
stopped at a low rung so inform the model only until enough trials reach higher rungs.

The searcher's state is the list of results told, not SMAC's objects: a resumed sweep rebuilds
SMAC and tells it the same results again, which is what SMAC would have known.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ConfigSpace import Categorical, Configuration, ConfigurationSpace, Float, Integer
from ray.tune.search import Searcher
from smac import HyperparameterOptimizationFacade, Scenario
from smac.model.random_forest import RandomForest
from smac.runhistory import RunHistory

from hpo.ranking import CV_FOLDS_DONE, is_better
from hpo.search.algorithms.space import Param

# SMAC's scenario needs a trial count; ask/tell never reaches it, the sweep's own count stops trials.
_UNBOUNDED_TRIALS = 1_000_000


@dataclass
class _Encoding:
    """How one hpo parameter lives in ConfigSpace, and back."""

    param: Param

    def hyperparameter(self) -> Any:
        p = self.param
        if p.is_discrete:  # indices: ConfigSpace choices cannot hold None or lists, hpo's can
            return Categorical(p.key, [str(i) for i in range(len(p.values))])
        if p.step is not None and not p.log:  # quniform and stepped ints: the step index
            return Integer(p.key, (0, int(round((p.high - p.low) / p.step, 9) // 1)))
        if p.type == "int":
            return Integer(p.key, (int(p.low), int(p.high)), log=p.log)
        return Float(p.key, (float(p.low), float(p.high)), log=p.log)

    def decode(self, value: Any) -> Any:
        p = self.param
        if p.is_discrete:
            return p.values[int(value)]
        if p.step is not None and not p.log:
            stepped = p.low + int(value) * p.step
            return int(stepped) if p.type == "int" else round(float(stepped), 12)
        return int(value) if p.type == "int" else float(value)

    def encode(self, value: Any) -> Any:
        p = self.param
        if p.is_discrete:
            return str(list(p.values).index(value))
        if p.step is not None and not p.log:
            return int(round((value - p.low) / p.step))
        return int(value) if p.type == "int" else float(value)


@dataclass
class _Optimizer:
    """The SMAC pieces the searcher talks to; the facade is kept because it owns them."""

    history: RunHistory
    proposals: Iterator[Configuration]
    space: ConfigurationSpace
    facade: HyperparameterOptimizationFacade
    workdir: tempfile.TemporaryDirectory  # SMAC's output folder, removed with the searcher


def config_space(params: list[Param], seed: int) -> ConfigurationSpace:
    """The hpo search space as a ConfigSpace space (SMAC's input)."""
    space = ConfigurationSpace(seed=seed)
    space.add([_Encoding(p).hyperparameter() for p in params])
    return space


class SMACSearch(Searcher):
    """Ray Tune searcher over SMAC3's ask/tell interface (see the module docstring)."""

    def __init__(self, params: list[Param], metric: str, mode: str, seed: int, n_initial: int) -> None:
        super().__init__(metric=metric, mode=mode)
        self._encodings = {p.key: _Encoding(p) for p in params}
        self._seed = seed
        self._n_initial = n_initial
        self._told: list[tuple[dict[str, Any], float, float]] = []  # (params, cost, budget)
        self._live: dict[str, dict[str, Any]] = {}  # trial id -> params, until the trial ends
        self._best: dict[str, float] = {}
        self._reached: dict[str, int] = {}
        self._smac: _Optimizer | None = None

    def _selector(self) -> Iterator[Configuration]:
        """SMAC's config selector, fed by a run history this searcher fills.

        SMAC's intensifier is left out: it races configurations on its own budgets and seeds,
        which here are the scheduler's job, and it discards proposals it cannot race.
        """
        if self._smac is None:
            params = [e.param for e in self._encodings.values()]
            workdir = tempfile.TemporaryDirectory(prefix="hpo-smac-")
            scenario = Scenario(
                config_space(params, self._seed), deterministic=True, n_trials=_UNBOUNDED_TRIALS, seed=self._seed,
                output_directory=Path(workdir.name),
            )
            facade = HyperparameterOptimizationFacade
            smac = facade(
                scenario, target_function=_never_called, overwrite=True, logging_level=40,
                initial_design=facade.get_initial_design(scenario, n_configs=self._n_initial),
                # one thread per forest: joblib's pool costs more than 10 small trees on a busy driver
                model=RandomForest(scenario.configspace, log_y=True, n_trees=10, min_samples_split=2, min_samples_leaf=1,
                                   n_jobs=1, max_leaf_nodes=None, seed=self._seed),
                config_selector=facade.get_config_selector(scenario, retrain_after=1),  # a new model per proposal
            )
            self._smac = _Optimizer(smac.runhistory, iter(smac._config_selector), scenario.configspace, smac, workdir)
            for params_, cost, budget in self._told:
                self._tell(params_, cost, budget)
        return self._smac.proposals

    def _tell(self, params: dict[str, Any], cost: float, budget: float) -> None:
        self._selector()
        encoded = {k: self._encodings[k].encode(v) for k, v in params.items() if k in self._encodings}
        config = Configuration(self._smac.space, values=encoded)
        self._smac.history.add(config, cost, seed=self._seed, budget=budget)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        proposals = self._selector()
        config = next(proposals)
        while config in self._smac.history.config_ids:  # a rebuilt SMAC replays its initial design once
            config = next(proposals)
        params = {k: self._encodings[k].decode(_plain(v)) for k, v in dict(config).items()}
        self._live[trial_id] = params
        return dict(params)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        value = result.get(self.metric)
        if value is None:
            return
        best = None if CV_FOLDS_DONE in result else self._best.get(trial_id)  # k-fold: the mean over the most folds
        self._best[trial_id] = value if is_better(value, best, self.mode) else best
        self._reached[trial_id] = int(result.get("training_iteration", self._reached.get(trial_id, 0) + 1))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        params = self._live.pop(trial_id, None)
        if result:
            self.on_trial_result(trial_id, result)
        best, reached = self._best.pop(trial_id, None), self._reached.pop(trial_id, 0)
        if params is None or error or best is None:
            return  # a failed trial tells SMAC nothing; its value is unknown, not bad
        self._record(params, best, float(max(reached, 1)))

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        """An earlier trial (``hpo extend``), told at the top budget seen so far."""
        if error or value is None:
            return
        budget = max((b for _, _, b in self._told), default=1.0)
        self._record(dict(parameters), value, budget)

    def _record(self, params: dict[str, Any], value: float, budget: float) -> None:
        cost = float(value) if self.mode == "min" else -float(value)  # SMAC minimises
        self._told.append((params, cost, budget))
        if self._smac is not None:
            self._tell(params, cost, budget)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_smac": None}  # rebuilt from _told: SMAC's objects do not pickle

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def _plain(value: Any) -> Any:
    """ConfigSpace hands back numpy scalars; configs and YAML want Python's."""
    return value.item() if hasattr(value, "item") else value


def _never_called(config: Any, seed: int = 0) -> float:
    raise RuntimeError("SMAC's target function runs nowhere: Ray Tune runs the trials and tells SMAC")
