"""Scheduler registry: a name in ``scheduler.name`` to a Ray Tune trial scheduler.

The scheduler owns stopping. Metric and mode are not passed here: the Tuner's ``TuneConfig``
sets them once for the searcher and the scheduler alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    PopulationBasedTraining,
    TrialScheduler,
)

from hpo.errors import ConfigError, unknown_name_error
from hpo.options import PBT_PERTURBABLE
from hpo.search.algorithms.space import Param, to_ray
from hpo.search.algorithms.wilcoxon_folds import WilcoxonFoldScheduler

# Trials report once per evaluation, so ASHA's times count evaluations.
TIME_ATTR = "training_iteration"


# The most evaluations the longest trial of the space makes; computed on the driver, which has
# the data (hpo.search.run.longest_trial), and only by a scheduler that asks.
MaxEvaluations = Callable[[], int]


def _fifo(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    return FIFOScheduler()


def _asha(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """``max_t: null`` (the default) takes the longest trial's evaluations and records them in
    ``cfg['max_t']``, so the sweep's saved config says what ASHA ran with."""
    max_t = _horizon(cfg, max_evaluations)
    return ASHAScheduler(time_attr=TIME_ATTR, max_t=max_t, grace_period=cfg["grace_period"], reduction_factor=cfg["reduction_factor"])


def _hyperband(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """Synchronous HyperBand: brackets that trade many short trials against few long ones. A
    paused trial continues from its checkpoint (every evaluation saves one). ``grace_period`` is
    not used: the brackets set each rung."""
    max_t = _horizon(cfg, max_evaluations)
    return HyperBandScheduler(time_attr=TIME_ATTR, max_t=max_t, reduction_factor=cfg["reduction_factor"], stop_last_trials=True)


def _bohb(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """HyperBand's brackets as BOHB runs them: each bracket waits for its rung before the model proposes more."""
    max_t = _horizon(cfg, max_evaluations)
    return HyperBandForBOHB(time_attr=TIME_ATTR, max_t=max_t, reduction_factor=cfg["reduction_factor"], stop_last_trials=True)


def _pbt(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """Population Based Training: the population is the sweep's trials, training side by side."""
    return PopulationBasedTraining(
        time_attr=TIME_ATTR, perturbation_interval=_interval(cfg), quantile_fraction=_quantile(cfg),
        resample_probability=cfg["resample_probability"], hyperparam_mutations=to_ray(perturbed(cfg, params)),
    )


def _pb2(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """PB2 (Parker-Holder et al. 2020): PBT whose explore step is a GP bandit over the perturbed ranges."""
    try:
        from ray.tune.schedulers.pb2 import PB2  # needs GPy: the pb2 extra
    except ImportError:
        raise ConfigError("scheduler.name", "pb2 needs GPy and scikit-learn: pip install 'hpo[pb2]'", value="pb2") from None
    keys = perturbed(cfg, params)
    discrete = [p.key for p in keys if p.type in ("choice", "grid")]
    if discrete:
        raise ConfigError(f"search_space.{discrete[0]}", "pb2 perturbs continuous ranges; search it with uniform, loguniform or quniform")
    return PB2(time_attr=TIME_ATTR, perturbation_interval=_interval(cfg), quantile_fraction=_quantile(cfg),
               hyperparam_bounds={p.key: [p.low, p.high] for p in keys})


def perturbed(cfg: dict[str, Any], params: list[Param]) -> list[Param]:
    """The searched parameters PBT may change mid-trial: those of ``scheduler.perturb`` in the space.

    Raises:
        ConfigError: a key PBT cannot change mid-run, or none of them searched.
    """
    for key in cfg["perturb"]:
        if key not in PBT_PERTURBABLE:
            raise ConfigError("scheduler.perturb", "cannot change in a running trial", value=key, choices=PBT_PERTURBABLE)
    keys = [p for p in params if p.key in cfg["perturb"]]
    if not keys:
        raise ConfigError("scheduler.perturb", f"{cfg['name']} needs at least one of these in the search space to perturb",
                          value=cfg["perturb"], choices=[p.key for p in params])
    return keys


def _interval(cfg: dict[str, Any]) -> int:
    interval = cfg["perturbation_interval"]
    if not (isinstance(interval, int) and interval >= 1):
        raise ConfigError("scheduler.perturbation_interval", "must be an integer >= 1 (evaluations)", value=interval)
    return interval


def _quantile(cfg: dict[str, Any]) -> float:
    fraction = cfg["quantile_fraction"]
    if not 0 < fraction <= 0.5:
        raise ConfigError("scheduler.quantile_fraction", "must be in (0, 0.5]", value=fraction)
    return fraction


# ``grace_period: null``: the first rung after this share of the longest trial's evaluations. On
# LCBench (52 epochs) a first cut after epoch 1 ranked configurations no better than chance and one
# after epoch 3 did (benchmarks/lcbench_fidelity.py), and TPE + ASHA with grace 3 ended ahead of grace 1
# (benchmarks/README.md). 52 / 16 rounds to 3, and a 3-epoch fine-tuning keeps 1.
GRACE_SHARE_OF_MAX_T = 1 / 16


def default_grace_period(max_t: int) -> int:
    """ASHA's first rung for ``grace_period: null``: about a sixteenth of ``max_t``, at least 1."""
    return max(1, min(max_t, round(max_t * GRACE_SHARE_OF_MAX_T)))


def _horizon(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None) -> int:
    """The multi-fidelity schedulers' ``max_t``, checked with the grace period and reduction factor.

    ``max_t: null`` takes the longest trial's evaluations and records them in ``cfg['max_t']``,
    so the sweep's saved config says what the scheduler ran with.
    """
    if cfg["max_t"] is None:
        if max_evaluations is None:
            raise ConfigError("scheduler.max_t", "null needs the sweep's data to count the longest trial's evaluations; set a count")
        cfg["max_t"] = max_evaluations()
    max_t = cfg["max_t"]
    if cfg["grace_period"] is None and isinstance(max_t, int):
        cfg["grace_period"] = default_grace_period(max_t)
    grace, factor = cfg["grace_period"], cfg["reduction_factor"]
    if not (isinstance(grace, int) and grace >= 1):
        raise ConfigError("scheduler.grace_period", "must be an integer >= 1", value=grace)
    if not (isinstance(max_t, int) and max_t >= grace):
        raise ConfigError("scheduler.max_t", f"must be an integer >= grace_period ({grace})", value=max_t)
    if not (isinstance(factor, (int, float)) and factor > 1):
        raise ConfigError("scheduler.reduction_factor", "must be > 1", value=factor)
    return max_t


def _wilcoxon(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None, params: list[Param]) -> TrialScheduler:
    """Optuna's Wilcoxon pruner over a k-fold trial's folds; the driver's check needs trainer.cv_folds."""
    return WilcoxonFoldScheduler(p_threshold=cfg["p_threshold"], min_folds=cfg["grace_period"])


SCHEDULERS: dict[str, Callable[[dict[str, Any], MaxEvaluations | None, list[Param]], TrialScheduler]] = {
    "fifo": _fifo,
    "asha": _asha,
    "hyperband": _hyperband,
    "bohb": _bohb,
    "pbt": _pbt,
    "pb2": _pb2,
    "wilcoxon": _wilcoxon,
}

# Population-based schedulers: the sweep's trials train side by side and copy each other's
# checkpoints mid-run; the population is sampled once, by the random searcher, then evolves.
POPULATION_BASED = ("pbt", "pb2")
REQUIRED_SEARCHER = dict.fromkeys(POPULATION_BASED, "random")


# HyperBand's brackets are synchronous: a bracket's trials wait, paused, until all of them reach its rung.
SYNCHRONOUS = ("hyperband", "bohb")


def check_live_trials(cfg: dict[str, Any], max_concurrent: int | None, num_trials: int) -> None:
    """A synchronous bracket needs all its trials to exist at once: a searcher that caps live trials
    (paused ones count) below the largest bracket would leave the bracket waiting forever, and Ray
    then resumes the paused trials unpruned. A PBT population is all the trials, side by side.
    Call it once ``cfg['max_t']`` is known.

    Raises:
        ConfigError: naming ``searcher.max_concurrent`` and the count it needs.
    """
    if max_concurrent is None:
        return
    if cfg["name"] in POPULATION_BASED and max_concurrent < num_trials:
        raise ConfigError("searcher.max_concurrent", f"scheduler={cfg['name']} trains its population (sweep.num_trials = "
                          f"{num_trials}) side by side; set it to null or at least {num_trials}", value=max_concurrent)
    if cfg["name"] not in SYNCHRONOUS:
        return
    eta = cfg["reduction_factor"]
    brackets = int(round(math.log(cfg["max_t"]) / math.log(eta))) + 1  # as Ray's HyperBandScheduler counts them
    largest = math.ceil(eta ** (brackets - 1))
    if max_concurrent < largest:
        raise ConfigError("searcher.max_concurrent", f"scheduler={cfg['name']} (max_t {cfg['max_t']}, reduction factor {eta:g}) "
                          f"fills brackets of up to {largest} trials that wait for each other; set it to at least {largest}, "
                          "or null (the resources still cap how many run at once)", value=max_concurrent)


def build_scheduler(cfg: dict[str, Any], max_evaluations: MaxEvaluations | None = None, params: list[Param] | None = None) -> TrialScheduler:
    """Build the scheduler named by ``scheduler.name``.

    Args:
        cfg: the ``scheduler`` group.
        max_evaluations: counts the longest trial's evaluations, for a scheduler whose horizon
            is left to hpo (ASHA's ``max_t: null``).
        params: the search space, for the schedulers that change values mid-trial (pbt, pb2).

    Raises:
        ConfigError: unknown name or impossible settings.
    """
    name = cfg["name"]
    if name not in SCHEDULERS:
        raise unknown_name_error("scheduler.name", name, SCHEDULERS)
    return SCHEDULERS[name](cfg, max_evaluations, params or [])
