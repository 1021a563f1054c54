"""Searcher registry: a name in ``searcher.name`` to a builder of Ray Tune's search algorithm.

Each builder returns the search algorithm (or ``None`` for Ray's default variant generator) and
the ``param_space`` to hand to the Tuner. The searcher owns sampling; concurrency is a
``ConcurrencyLimiter`` wrapper, as Ray Tune intends, not a flag on each searcher.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from hpo.errors import ConfigError, unknown_name_error
from hpo.objectives import Constraint, Objective, constraints, objectives
from hpo.ranking import CV_FOLDS_DONE, is_better
from hpo.search.algorithms.space import Param, to_grid, to_optuna, to_ray
from hpo.trial_status import INFEASIBLE

CONSTRAINTS = "constraints"  # the Optuna user attribute: a trial's violation of each sweep.constraints bound (> 0: broken)


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


def infeasibility(trial: optuna.trial.FrozenTrial, n_constraints: int = 0) -> tuple[float, ...]:
    """Optuna's constraint values of a trial (each above 0 when broken): whether it ran out of memory
    (``SweepOptunaSearch`` marks it), then by how much it broke each ``sweep.constraints`` bound, so
    the samplers model those values as the regions to avoid rather than forgetting them."""
    return (float(trial.user_attrs.get(INFEASIBLE, 0.0)), *trial.user_attrs.get(CONSTRAINTS, [0.0] * n_constraints))


ConstraintsFunc = Callable[[optuna.trial.FrozenTrial], tuple[float, ...]]


def _tpe(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(n_startup_trials=cfg["n_startup_trials"], seed=seed, constraints_func=constraints_func)


def _gp(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(n_startup_trials=cfg["n_startup_trials"], seed=seed, constraints_func=constraints_func)


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II sampler, which Ray can pickle with the Tuner (Optuna's holds a thread lock, which cannot be)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_thread_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _thread_lock=threading.Lock())


def _nsga2(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    """NSGA-II, the evolutionary multi-objective sampler (a population of ``n_startup_trials``, at least 2)."""
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return PicklableNSGAIISampler(population_size=max(2, cfg["n_startup_trials"]), seed=seed, constraints_func=constraints_func)


def _cmaes(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(n_startup_trials=cfg["n_startup_trials"], seed=seed)


def _qmc(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def _random_sampler(cfg: dict[str, Any], seed: int, constraints_func: ConstraintsFunc) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


OPTUNA_SAMPLERS: dict[str, Callable[[dict[str, Any], int, ConstraintsFunc], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "gp": _gp,
    "nsga2": _nsga2,
    "cmaes": _cmaes,
    "qmc": _qmc,
    "random": _random_sampler,
}


def build_sampler(cfg: dict[str, Any], seed: int, n_constraints: int = 0) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``searcher.sampler``, reading ``n_constraints`` constraint values per trial."""
    name = cfg["sampler"]
    if name not in OPTUNA_SAMPLERS:
        raise unknown_name_error("searcher.sampler", name, OPTUNA_SAMPLERS)
    return OPTUNA_SAMPLERS[name](cfg, seed, functools.partial(infeasibility, n_constraints=n_constraints))


class SweepOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, telling Optuna what a trial's end means in a sweep.

    Ray's searcher records a trial that ASHA stopped after one epoch as *complete*, with that
    epoch's value as its final score; TPE then models early, noisy scores as final ones. Here a
    trial that ended before its planned evaluations is *pruned* (Optuna's TPE ranks pruned
    trials below completed ones, by how far they got), and a completed trial's values are those of
    its best evaluation by the primary metric, the evaluation the sweep ranks it by (with several
    objectives, every objective's value at that evaluation). A trial that ran out of memory is
    pruned and marked infeasible, and a trial that breaks a ``sweep.constraints`` bound carries by
    how much: the samplers read both as constraints (:func:`infeasibility`) and avoid them.
    """

    def __init__(self, *args: Any, goals: list[Objective], limits: list[Constraint], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._goals, self._limits = goals, limits
        self._best_row: dict[str, dict] = {}
        self._infeasible: set[str] = set()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A searcher pickled by an older hpo (``hpo resume`` of an old sweep): one objective, no constraints."""
        state.setdefault("_goals", [Objective(state["_metric"], state["_mode"])])
        state.setdefault("_limits", [])
        state.setdefault("_best_row", {trial: {state["_metric"]: value} for trial, value in state.get("_best", {}).items()})
        self.__dict__.update(state)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get(INFEASIBLE):  # ran out of memory: its NaN is no intermediate value
            self._infeasible.add(trial_id)
            return
        super().on_trial_result(trial_id, result)  # an intermediate value (Ray skips it with several objectives)
        primary = self._goals[0]
        value = result.get(primary.metric)
        if value is not None:
            best = None if CV_FOLDS_DONE in result else self._best_row.get(trial_id, {}).get(primary.metric)  # k-fold: latest
            if is_better(value, best, primary.mode):
                self._best_row[trial_id] = dict(result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._infeasible and trial_id not in self._completed_trials:
            trial = self._ot_trials[trial_id]
            trial.set_user_attr(INFEASIBLE, 1.0)  # the constraint the samplers read (infeasibility)
            self._ot_study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)
            return None
        if error or not result or trial_id in self._completed_trials or self._goals[0].metric not in result:
            return super().on_trial_complete(trial_id, result, error)
        planned, done = result.get("evaluations_planned"), result.get("training_iteration", 0)
        if planned is not None and done < planned:
            self._ot_study.tell(self._ot_trials[trial_id], state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)
            return None
        best = {**result, **self._best_row.get(trial_id, {})}
        if self._limits:
            self._ot_trials[trial_id].set_user_attr(CONSTRAINTS, [c.violation(best) for c in self._limits])
        return super().on_trial_complete(trial_id, {**result, **{g.metric: best[g.metric] for g in self._goals}}, error)


def _optuna(cfg: dict[str, Any], params: list[Param], sweep: dict[str, Any]) -> SearchPlan:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    goals, limits = objectives(sweep), constraints(sweep)
    alg: Searcher = SweepOptunaSearch(
        space=to_optuna(params),
        # one objective: a metric and a mode; several: lists, which Ray's OptunaSearch hands to Optuna as they are
        metric=[g.metric for g in goals] if len(goals) > 1 else sweep["metric"],
        mode=[g.mode for g in goals] if len(goals) > 1 else sweep["mode"],
        sampler=build_sampler(cfg, sweep["seed"], len(limits)),
        seed=sweep["seed"],
        goals=goals,
        limits=limits,
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
