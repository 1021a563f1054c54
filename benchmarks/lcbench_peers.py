"""The peers of the search-efficiency benchmark: other libraries' methods, run directly as a user would.

Each peer searches the same LCBench space (``configs/lcbench_space.yaml``) with its library's own
loop, one trial at a time, and spends the run's epoch budget exactly: every epoch it evaluates is
logged (``lcbench.log_evaluation``) in the order spent, as hpo's trials log theirs.

- plain Optuna: TPE with its Hyperband pruner;
- SMAC3: its multi-fidelity facade (random forest, Hyperband intensifier) through ask/tell;
- Syne Tune: its BOHB (asynchronous successive halving with a TPE-like density model).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks import lcbench

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
REDUCTION_FACTOR = 3  # the same halving rate as hpo's ASHA and HyperBand in the benchmark


def lcbench_space() -> dict[str, dict[str, Any]]:
    """The searched hyperparameters, by their surrogate name (without the ``lcbench.`` prefix)."""
    return yaml.safe_load((CONFIG_DIR / "lcbench_space.yaml").read_text())["lcbench"]


def epochs(params: dict[str, Any], task: str, run_dir: Path, trial: Any, until: int) -> Iterator[tuple[int, float]]:
    """The accuracy after each epoch of one trial up to ``until``, each logged as it is spent."""
    for epoch, accuracy in enumerate(lcbench.learning_curve(params, task)[:until], start=1):
        lcbench.log_evaluation(run_dir, {"trial": trial, "epoch": epoch, "acc": accuracy})
        yield epoch, accuracy


def prefixed(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{lcbench.PREFIX}{k}": v for k, v in config.items()}


# ----------------------------------------------------------------------------- plain Optuna


def optuna_hyperband(task: str, seed: int, budget: int, run_dir: Path) -> None:
    """Plain Optuna as a user would write it: TPE, Hyperband pruner, a loop over epochs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = lcbench_space()
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=lcbench.MAX_EPOCHS, reduction_factor=REDUCTION_FACTOR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    spent = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal spent
        params = {f"{lcbench.PREFIX}{k}": _suggest(trial, k, v) for k, v in space.items()}
        best = -np.inf
        for epoch, accuracy in epochs(params, task, run_dir, trial.number, budget - spent):
            spent += 1
            best = max(best, accuracy)
            trial.report(accuracy, epoch)
            if spent >= budget or trial.should_prune():
                raise optuna.TrialPruned()
        return best

    def stop_at_budget(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if spent >= budget:
            study.stop()

    study.optimize(objective, n_trials=budget, callbacks=[stop_at_budget])


def _suggest(trial: Any, name: str, dist: dict[str, Any]) -> float | int:
    """One Optuna suggestion from hpo's YAML distribution (the same space the hpo methods search)."""
    if dist["type"] == "int":
        return trial.suggest_int(name, dist["low"], dist["high"], log=dist.get("log", False))
    return trial.suggest_float(name, dist["low"], dist["high"], log=dist["type"] == "loguniform")


# ----------------------------------------------------------------------------- SMAC3


def smac_multi_fidelity(task: str, seed: int, budget: int, run_dir: Path) -> None:
    """SMAC3's multi-fidelity facade through its ask/tell loop, budgets in epochs (1 to 52).

    SMAC's Hyperband trains a promoted configuration again from scratch at the higher budget (no
    checkpoints), and those epochs count against the budget as they would on a real machine.
    The forest is SMAC's own (10 trees, log-scaled costs) with one thread and no 2**20 leaf cap
    (``max_leaf_nodes=None``): the same trees, built 2-3x faster on 2 cores.
    """
    from ConfigSpace import ConfigurationSpace, Float, Integer
    from smac import MultiFidelityFacade, Scenario
    from smac.model.random_forest import RandomForest
    from smac.runhistory import TrialValue

    space = ConfigurationSpace(seed=seed)
    for name, d in lcbench_space().items():
        kind = Integer if d["type"] == "int" else Float
        space.add(kind(name, (d["low"], d["high"]), log=d["type"] == "loguniform" or d.get("log", False)))
    # n_trials: about the trials SMAC's Hyperband runs in the budget (60-70 in 520 epochs); SMAC sizes its
    # random initial design from it (at most a quarter), so n_trials=budget would leave no trial to the forest.
    scenario = Scenario(space, deterministic=True, n_trials=max(8, budget // 5), min_budget=1, max_budget=lcbench.MAX_EPOCHS, seed=seed,
                        output_directory=Path(tempfile.mkdtemp(dir=run_dir, prefix="smac-")))
    facade = MultiFidelityFacade
    smac = facade(
        scenario, target_function=_told_not_called, overwrite=True, logging_level=40,
        intensifier=facade.get_intensifier(scenario, eta=REDUCTION_FACTOR),
        model=RandomForest(space, log_y=True, n_trees=10, min_samples_split=2, min_samples_leaf=1, n_jobs=1,
                           max_leaf_nodes=None, seed=seed),
    )
    spent, trial = 0, 0
    while spent < budget:
        info = smac.ask()
        best = -np.inf
        for _, accuracy in epochs(prefixed(dict(info.config)), task, run_dir, trial, min(round(info.budget), budget - spent)):
            spent += 1
            best = max(best, accuracy)
        smac.tell(info, TrialValue(cost=100.0 - best))  # SMAC minimises; the accuracy is in percent
        trial += 1


def _told_not_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("the ask/tell loop evaluates the trials")


# ----------------------------------------------------------------------------- Syne Tune


def syne_tune_bohb(task: str, seed: int, budget: int, run_dir: Path) -> None:
    """Syne Tune's BOHB driven by its scheduler interface: suggest, report each epoch, obey STOP."""
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import lograndint, loguniform, randint, uniform
    from syne_tune.optimizer.baselines import BOHB
    from syne_tune.optimizer.scheduler import SchedulerDecision

    def domain(d: dict[str, Any]) -> Any:
        if d["type"] == "int":
            return (lograndint if d.get("log") else randint)(d["low"], d["high"])
        return (loguniform if d["type"] == "loguniform" else uniform)(d["low"], d["high"])

    scheduler = BOHB({k: domain(d) for k, d in lcbench_space().items()}, metric="acc", time_attr="epoch",
                     max_t=lcbench.MAX_EPOCHS, do_minimize=False, random_seed=seed, reduction_factor=REDUCTION_FACTOR)
    spent, trial_id = 0, 0
    while spent < budget:
        suggestion = scheduler.suggest()
        trial = Trial(trial_id=trial_id, config=suggestion.config, creation_time=datetime.now())
        scheduler.on_trial_add(trial)
        result: dict[str, Any] = {}
        for epoch, accuracy in epochs(prefixed(suggestion.config), task, run_dir, trial_id, budget - spent):
            spent += 1
            result = {"epoch": epoch, "acc": accuracy}
            if scheduler.on_trial_result(trial, result) == SchedulerDecision.STOP:
                break
        else:
            scheduler.on_trial_complete(trial, result)
        trial_id += 1


PEERS: dict[str, Callable[[str, int, int, Path], None]] = {
    "optuna_hyperband": optuna_hyperband,
    "smac_mf": smac_multi_fidelity,
    "synetune_bohb": syne_tune_bohb,
}
