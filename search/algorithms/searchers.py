"""Searcher registry: a name in ``searcher.name`` to a builder of Ray Tune's search algorithm.

Each builder returns the search algorithm (or ``None`` for Ray's default variant generator) and
the ``param_space`` to hand to the Tuner. The searcher owns sampling; concurrency is a
``ConcurrencyLimiter`` wrapper, as Ray Tune intends, not a flag on each searcher.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from hpo.errors import ConfigError, unknown_name_error
from hpo.ranking import CV_FOLDS_DONE, is_better
from hpo.search.algorithms.space import Param, to_grid, to_optuna, to_ray
from hpo.trial_status import INFEASIBLE


@dataclass
class SearchPlan:
    """What the Tuner needs from the searcher: the algorithm, the space and the trial count."""

    search_alg: Searcher | BasicVariantGenerator | None
    param_space: dict[str, Any]
    num_samples: int


Builder = Callable[[dict[str, Any], list[Param], dict[str, Any]], SearchPlan]


def _random(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    alg = BasicVariantGenerator(max_concurrent=cfg["max_concurrent"] or 0, random_state=sweep["seed"])
    return SearchPlan(alg, to_ray(params), sweep["num_trials"])


def _grid(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    # num_samples=1: Ray repeats the whole grid num_samples times.
    alg = BasicVariantGenerator(max_concurrent=cfg["max_concurrent"] or 0)
    return SearchPlan(alg, to_grid(params), 1)


def infeasibility(trial: optuna.trial.FrozenTrial) -> tuple[float]:
    """Optuna's constraint value of a trial: above 0 for one that ran out of memory (``SweepOptunaSearch``
    marks it), so TPE and GP model its values as the region to avoid rather than forgetting it."""
    return (float(trial.user_attrs.get(INFEASIBLE, 0.0)),)


def _tpe(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(n_startup_trials=cfg["n_startup_trials"], seed=seed, constraints_func=infeasibility)


def _gp(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(n_startup_trials=cfg["n_startup_trials"], seed=seed, constraints_func=infeasibility)


def _cmaes(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(n_startup_trials=cfg["n_startup_trials"], seed=seed)


def _qmc(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def _random_sampler(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


OPTUNA_SAMPLERS: dict[str, Callable[[dict[str, Any], int], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "gp": _gp,
    "cmaes": _cmaes,
    "qmc": _qmc,
    "random": _random_sampler,
}


def build_sampler(cfg: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``searcher.sampler``."""
    name = cfg["sampler"]
    if name not in OPTUNA_SAMPLERS:
        raise unknown_name_error("searcher.sampler", name, OPTUNA_SAMPLERS)
    return OPTUNA_SAMPLERS[name](cfg, seed)


class SweepOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, telling Optuna what a trial's end means in a sweep.

    Ray's searcher records a trial that ASHA stopped after one epoch as *complete*, with that
    epoch's value as its final score; TPE then models early, noisy scores as final ones. Here a
    trial that ended before its planned evaluations is *pruned* (Optuna's TPE ranks pruned
    trials below completed ones, by how far they got), and a completed trial's value is its
    best evaluation, the value the sweep ranks it by. A trial that ran out of memory is pruned and
    marked infeasible, which TPE and GP read as a constraint (:func:`infeasibility`) and avoid.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._best: dict[str, float] = {}
        self._infeasible: set[str] = set()

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get(INFEASIBLE):  # ran out of memory: its NaN is no intermediate value
            self._infeasible.add(trial_id)
            return
        super().on_trial_result(trial_id, result)
        value = result.get(self._metric)
        if value is not None:
            best = None if CV_FOLDS_DONE in result else self._best.get(trial_id)  # k-fold: the mean over the most folds
            self._best[trial_id] = value if is_better(value, best, self._mode) else best

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._infeasible and trial_id not in self._completed_trials:
            trial = self._ot_trials[trial_id]
            trial.set_user_attr(INFEASIBLE, 1.0)  # the constraint the samplers read (infeasibility)
            self._ot_study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)
            return None
        if error or not result or trial_id in self._completed_trials or self._metric not in result:
            return super().on_trial_complete(trial_id, result, error)
        planned, done = result.get("evaluations_planned"), result.get("training_iteration", 0)
        if planned is not None and done < planned:
            self._ot_study.tell(self._ot_trials[trial_id], state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)
            return None
        best = self._best.get(trial_id, result[self._metric])
        return super().on_trial_complete(trial_id, {**result, self._metric: best}, error)


def _optuna(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    alg: Searcher = SweepOptunaSearch(
        space=to_optuna(params),
        metric=sweep["metric"],
        mode=sweep["mode"],
        sampler=build_sampler(cfg, sweep["seed"]),
        seed=sweep["seed"],
    )
    if cfg["max_concurrent"]:
        alg = ConcurrencyLimiter(alg, max_concurrent=cfg["max_concurrent"])
    return SearchPlan(alg, {}, sweep["num_trials"])


def _bohb(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    """Ray's TuneBOHB (hpbandster's model); Tune converts the space to ConfigSpace for it."""
    try:
        import hpbandster  # noqa: F401  (TuneBOHB only fails later, inside Ray, without it)
        from ray.tune.search.bohb import TuneBOHB  # needs hpbandster: the bohb extra
    except ImportError:
        raise ConfigError("searcher.name", "bohb needs hpbandster and ConfigSpace: pip install 'hpo[bohb]'", value="bohb") from None
    alg: Searcher = TuneBOHB(seed=sweep["seed"])
    if cfg["max_concurrent"]:
        alg = ConcurrencyLimiter(alg, max_concurrent=cfg["max_concurrent"])
    return SearchPlan(alg, to_ray(params), sweep["num_trials"])


def _smac(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    """SMAC3's random forest through hpo's ask/tell adapter (Ray Tune ships no SMAC searcher)."""
    try:
        from hpo.search.algorithms.smac_search import SMACSearch  # SMAC3 is the smac extra, off the default install
    except ImportError:
        raise ConfigError("searcher.name", "smac needs SMAC3: pip install 'hpo[smac]'", value="smac") from None
    alg: Searcher = SMACSearch(params, sweep["metric"], sweep["mode"], sweep["seed"], cfg["n_startup_trials"])
    if cfg["max_concurrent"]:
        alg = ConcurrencyLimiter(alg, max_concurrent=cfg["max_concurrent"])
    return SearchPlan(alg, {}, sweep["num_trials"])


SEARCHERS: dict[str, Builder] = {"random": _random, "grid": _grid, "optuna": _optuna, "bohb": _bohb, "smac": _smac}

# Searchers whose model ``hpo extend`` warm-starts with the earlier trials (Searcher.add_evaluated_point).
WARM_STARTABLE = ("optuna", "smac")

# Searchers that only work beside one scheduler: BOHB's model expects HyperBand's brackets.
REQUIRED_SCHEDULER = {"bohb": "bohb"}


def build_search(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    """Build the search plan for ``searcher.name``.

    Raises:
        ConfigError: unknown searcher name or an empty search space.
    """
    name = cfg["name"]
    if name not in SEARCHERS:
        raise unknown_name_error("searcher.name", name, SEARCHERS)
    if not params:
        raise ConfigError("search_space", f"the {name} searcher needs at least one parameter to search")

    return SEARCHERS[name](cfg, params, sweep)
