"""Conformance kit for the name -> builder registries: every entry builds and works; unknown names list the valid ones."""

from __future__ import annotations

import math

import optuna.study as optuna_study
import pytest
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    PopulationBasedTraining,
)
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import ConcurrencyLimiter

from hpo.errors import ConfigError
from hpo.search.algorithms.schedulers import SCHEDULERS, build_scheduler
from hpo.search.algorithms.searchers import OPTUNA_SAMPLERS, SEARCHERS, build_search
from hpo.search.algorithms.space import parse_space
from hpo.search.algorithms.wilcoxon_folds import WilcoxonFoldScheduler
from hpo.trial_status import INFEASIBLE

SWEEP = {"metric": "eval/accuracy", "mode": "max", "num_trials": 5, "seed": 0}
SPACE = parse_space({
    "trainer": {
        "learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
        "batch_size": {"type": "choice", "values": [8, 16]},
        "epochs": {"type": "int", "low": 1, "high": 3},
    }
})
GRID_SPACE = parse_space({"trainer": {"batch_size": {"type": "grid", "values": [8, 16]}, "epochs": {"type": "int", "low": 1, "high": 3}}})


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_every_searcher_builds(name: str) -> None:
    space = GRID_SPACE if name == "grid" else SPACE
    plan = build_search({"name": name, "max_concurrent": 2, "sampler": "tpe", "n_startup_trials": 2}, space, SWEEP)
    assert plan.num_samples == (1 if name == "grid" else 5)


@pytest.mark.parametrize("sampler", sorted(OPTUNA_SAMPLERS))
def test_every_optuna_sampler_suggests_within_the_space_and_learns_from_results(sampler: str) -> None:
    plan = build_search({"name": "optuna", "sampler": sampler, "n_startup_trials": 2, "max_concurrent": 1}, SPACE, SWEEP)
    searcher = plan.search_alg
    assert isinstance(searcher, ConcurrencyLimiter)
    for i in range(4):
        config = searcher.suggest(f"t{i}")
        assert 1e-5 <= config["trainer.learning_rate"] <= 1e-3
        assert config["trainer.batch_size"] in (8, 16)
        assert config["trainer.epochs"] in (1, 2, 3)
        assert searcher.suggest(f"blocked{i}") is None  # the concurrency limit holds
        searcher.on_trial_complete(f"t{i}", {"eval/accuracy": config["trainer.learning_rate"] * 1000})
    assert len(searcher.searcher._ot_study.trials) == 4


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_builds(name: str) -> None:
    cfg = {"name": name, "max_t": 4, "grace_period": 1, "reduction_factor": 2, "perturbation_interval": 1,
           "quantile_fraction": 0.25, "resample_probability": 0.25, "perturb": ["trainer.learning_rate"], "p_threshold": 0.1}
    scheduler = build_scheduler(cfg, params=SPACE)
    expected = {"asha": ASHAScheduler, "fifo": FIFOScheduler, "hyperband": HyperBandScheduler, "bohb": HyperBandForBOHB,
                "pbt": PopulationBasedTraining, "pb2": PB2, "wilcoxon": WilcoxonFoldScheduler}
    assert type(scheduler) is expected[name]


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"searcher.name.*nope.*bohb, grid, optuna, random, smac"):
        build_search({"name": "nope"}, SPACE, SWEEP)
    with pytest.raises(ConfigError, match=r"scheduler.name.*nope.*asha, bohb, fifo, hyperband, pb2, pbt, wilcoxon"):
        build_scheduler({"name": "nope"})
    with pytest.raises(ConfigError, match=r"searcher.sampler.*nope.*cmaes, gp, nsga2, qmc, random, tpe"):
        build_search({"name": "optuna", "sampler": "nope"}, SPACE, SWEEP)


def test_optuna_searcher_prunes_early_stopped_trials_and_records_best_values() -> None:
    import optuna

    plan = build_search({"name": "optuna", "sampler": "tpe", "n_startup_trials": 2, "max_concurrent": 4}, SPACE, SWEEP)
    searcher = plan.search_alg.searcher
    for trial_id in ("stopped", "finished"):
        plan.search_alg.suggest(trial_id)
    searcher.on_trial_result("stopped", {"eval/accuracy": 0.7, "training_iteration": 1, "evaluations_planned": 3})
    plan.search_alg.on_trial_complete("stopped", {"eval/accuracy": 0.7, "training_iteration": 1, "evaluations_planned": 3})
    for i, value in enumerate([0.6, 0.9, 0.8], start=1):  # the best evaluation, not the last, is the value
        searcher.on_trial_result("finished", {"eval/accuracy": value, "training_iteration": i, "evaluations_planned": 3})
    plan.search_alg.on_trial_complete("finished", {"eval/accuracy": 0.8, "training_iteration": 3, "evaluations_planned": 3})
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert trials[1].value == 0.9 and trials[0].intermediate_values == {1: 0.7}


def proposals_above(told: str, limit: float = 1e-4) -> tuple[int, optuna_study.Study]:
    """TPE over a learning rate where rates above ``limit`` "run out of memory" and, below it, higher
    is better (the optimum at the edge of what fits, as with batch sizes); each out-of-memory trial
    is told as ``told``. Returns how many of the last 20 of 36 proposals were above the limit."""
    space = parse_space({"trainer": {"learning_rate": {"type": "loguniform", "low": 1e-6, "high": 1e-2}}})
    searcher = build_search({"name": "optuna", "sampler": "tpe", "n_startup_trials": 6, "max_concurrent": None}, space, SWEEP).search_alg
    proposed = []
    for i in range(36):
        rate = searcher.suggest(f"t{i}")["trainer.learning_rate"]
        proposed.append(rate)
        if rate > limit and told == "infeasible":  # as hpo's trial reports it, then ends
            searcher.on_trial_result(f"t{i}", {"eval/accuracy": math.nan, INFEASIBLE: "TrialOutOfMemoryError: ..."})
            searcher.on_trial_complete(f"t{i}", {"eval/accuracy": math.nan, INFEASIBLE: "TrialOutOfMemoryError: ..."})
        elif rate > limit:
            searcher.on_trial_complete(f"t{i}", error=True)
        else:
            searcher.on_trial_complete(f"t{i}", {"eval/accuracy": math.log10(rate), "training_iteration": 1})
    return sum(rate > limit for rate in proposed[16:]), searcher._ot_study


def test_tpe_moves_away_from_values_that_ran_out_of_memory() -> None:
    avoided, study = proposals_above("infeasible")
    retried, _ = proposals_above("failed")
    marked = [t for t in study.trials if t.user_attrs.get(INFEASIBLE)]
    assert marked and all(t.state.name == "PRUNED" and t.system_attrs["constraints"] == (1.0,) for t in marked)
    # measured: 9 of the last 20 proposals above the limit when told, 20 of 20 when the trials merely failed
    assert avoided + 8 <= retried, (avoided, retried)
