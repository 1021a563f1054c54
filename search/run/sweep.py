"""The sweep driver: validated config in, a finished sweep folder with its export out."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ray
import yaml
from ray import tune
from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as Manager

from hpo import __version__
from hpo.errors import ConfigError
from hpo.layout import CONFIG_FILE, TRIALS_DIR, VERSION_FILE, trial_name
from hpo.options import has_test_split
from hpo.ranking import CV_FOLDS_DONE
from hpo.search.algorithms.schedulers import POPULATION_BASED, build_scheduler, check_live_trials
from hpo.search.algorithms.searchers import SearchPlan, build_search
from hpo.search.algorithms.space import Param, largest_searched
from hpo.search.config.checks import check, check_lr_scheduler
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.search.run.budgets import SweepBudget, has_budget
from hpo.search.run.callbacks import ProgressCallback, build_logger_callbacks
from hpo.search.run.disk_guard import MIN_FREE_MB, DiskSpaceGuard, fit_guarded, free_mb, nearest_existing
from hpo.search.run.longest_trial import CountTrainRows, longest_trial_evaluations
from hpo.search.run.result_files import ResultJsonWriter
from hpo.search.run.storage import mirror_experiments, open_storage, run_storage
from hpo.search.run.study_journal import StudyJournalCallback


@dataclass
class PreparedSweep:
    """Everything decided and checked on the driver before Ray starts."""

    config: dict[str, Any]
    params: list[Param]
    search: SearchPlan
    scheduler: Any
    sweep_dir: Path


def prepare(config_name: str, overrides: list[str] | None = None) -> PreparedSweep:
    """Compose, resolve and check a sweep, its data and its model, spending no compute on trials.

    Raises:
        ConfigError: any bad input, naming the key or file and the valid choices.
    """
    cfg = resolve(compose_config(config_name, overrides))
    return prepare_resolved(cfg)


def prepare_resolved(cfg: dict[str, Any]) -> PreparedSweep:
    """The checks of :func:`prepare` on an already resolved config (used by resume and tests)."""
    params = check(cfg)
    search = build_search(cfg["searcher"], params, cfg["sweep"])
    count_train_rows = check_inputs(cfg)
    scheduler = build_scheduler(cfg["scheduler"], lambda: longest_trial_evaluations(cfg, params, count_train_rows), params)
    check_live_trials(cfg["scheduler"], cfg["searcher"]["max_concurrent"], cfg["sweep"]["num_trials"])
    if cfg["sweep"]["storage_path"]:
        open_storage(cfg["sweep"]["storage_path"])
    sweep_dir = Path(cfg["sweep"]["output_dir"]).expanduser().resolve()
    check_output_dir(sweep_dir)
    cfg["sweep"]["output_dir"] = str(sweep_dir)
    if cfg["logger"]["group"] is None:  # unique per sweep, kept in config.yaml for resumes
        cfg["logger"]["group"] = f"{cfg['sweep']['name']}-{datetime.now():%Y%m%d-%H%M%S}"
    return PreparedSweep(cfg, params, search, scheduler, sweep_dir)


def check_output_dir(sweep_dir: Path) -> None:
    """The sweep folder can be written, with room for checkpoints, before Ray starts (nothing is created here).

    Raises:
        ConfigError: naming ``sweep.output_dir``: a read-only file system or no permission, a file in the
            way, or less than ``MIN_FREE_MB`` free.
    """
    existing = nearest_existing(sweep_dir)
    if not existing.is_dir():
        raise ConfigError("sweep.output_dir", f"{existing} is a file, not a folder", value=str(sweep_dir))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("sweep.output_dir", f"cannot write in {existing} (a read-only file system, or no permission)",
                          value=str(sweep_dir))
    free = free_mb(existing)
    if free < MIN_FREE_MB:
        raise ConfigError("sweep.output_dir", f"only {free:.1f} MB free where the sweep would write ({existing}); "
                          f"checkpoints need more: free space or choose another folder", value=str(sweep_dir))


def check_inputs(cfg: dict[str, Any]) -> CountTrainRows:
    """Load the data and the model's config and tokenizer once, so a bad path fails here.

    The checks that need transformers run here rather than in ``hpo.search.config.checks.check``, so commands
    that only read a config or a sweep folder never pay for importing torch and transformers.

    Returns:
        The training rows a trial with a given ``trainer`` config trains on (after augmentation,
        resampling or language-model blocking), prepared from the data loaded here: what ASHA's
        ``max_t`` is counted from when evaluations are counted in steps.
    """
    # torch, transformers, datasets: only the commands that check data and models pay for them
    from hpo.trainers.models.modeling import load_tokenizer
    from hpo.trainers.tasks.registry import get_task

    trainer = cfg["trainer"]
    check_lr_scheduler(cfg)
    task = get_task(trainer["task"])
    # the test split too, when there is one: a missing or malformed test file fails here, before Ray starts
    splits = task.load_splits(cfg["data"], seed=cfg["sweep"]["seed"], with_test=has_test_split(cfg["data"]))
    # the model is checked against the longest sequence any trial may build, not only the config's default
    task.check_model(cfg["model"], splits.label_names, {**trainer, "max_seq_length": largest_searched(cfg, "trainer.max_seq_length")})
    tokenizer = load_tokenizer(cfg["model"])
    if trainer["cv_folds"]:
        # scikit-learn's splitters: only for cross-validated sweeps
        from hpo.trainers.runs.cross_validation import fold_indices

        fold_indices(splits, trainer["cv_folds"], stratify=task.labels == "classes", seed=trainer["seed"])
    return lambda trial_trainer: len(task.prepare(splits, tokenizer, trial_trainer).train_rows)

# Ray's rule for its "auto" snapshot period: wait 19x as long as the last save took, so saving
# the experiment state costs at most 5% of the driver's time.
SNAPSHOT_PERIOD_FACTOR = 19


def bound_experiment_snapshots() -> None:
    """Keep hpo's 1-second experiment-state snapshots from slowing down sweeps of many short trials.

    A snapshot writes every trial's state and the pickled searcher, so it grows with the trial
    count: at 300 trials each took ~85 ms and, one a second, they were 8 to 50% of the driver's
    time (benchmarks/README.md, Overhead). Ray adapts the period only in its ``auto`` mode, whose
    10-second floor would break ``hpo resume``'s promise of at most a second lost. This applies
    Ray's own 5% rule with the configured period (``TUNE_GLOBAL_CHECKPOINT_S``, 1 s) as the
    floor: small sweeps still snapshot every second, huge ones back off in proportion. Ray Tune
    has no public setting for this, so the method of its snapshot manager is wrapped, once.
    """
    if getattr(Manager, "_hpo_bounded", False):
        return
    ray_update = Manager._update_auto_checkpoint_time

    def update(self: Any, time_taken: float) -> None:
        ray_update(self, time_taken)
        if not self.auto_checkpoint_enabled:
            floor = getattr(self, "_hpo_floor", None) or self._checkpoint_period
            self._hpo_floor = floor
            self._checkpoint_period = max(floor, time_taken * SNAPSHOT_PERIOD_FACTOR)

    Manager._update_auto_checkpoint_time = update
    Manager._hpo_bounded = True


def init_ray(cfg: dict[str, Any]) -> None:
    """Start a local Ray instance or connect to an existing cluster (``cluster.address``)."""
    bound_experiment_snapshots()
    if ray.is_initialized():
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # C++ warnings are not for users
    # Save the experiment state (what `hpo resume` restores) every second, not every 10+ seconds,
    # so a driver killed at any moment loses at most a second of bookkeeping.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    address = cfg["cluster"]["address"]
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address:
        ray.init(address=address, **kwargs)
    else:
        # address="local": a new Ray instance for this sweep, even where a cluster already runs on
        # this machine (``ray start``), which ray.init() would otherwise join and then refuse num_cpus.
        ray.init(address="local", num_cpus=cfg["resources"]["num_cpus"], **kwargs)


def trial_trainable(cfg: dict[str, Any], trainable: Callable[..., None] | None = None) -> Any:
    """The trial function with the sweep's config bound and its resources attached."""
    if trainable is None:
        # torch and transformers load in the trial workers, not on the driver
        from hpo.trainers.runs.trial import run_trial

        trainable = run_trial
    resources = {"cpu": cfg["resources"]["cpus_per_trial"], "gpu": cfg["resources"]["gpus_per_trial"]}
    if workers_per_trial(cfg) > 1:
        # The trial only drives a TorchTrainer whose workers hold the CPUs and GPUs; Ray needs some
        # resource in a bundle, so the driver holds 1 MiB of Ray's memory resource and nothing else.
        resources = tune.PlacementGroupFactory([{"memory": 2**20}])
    return tune.with_resources(tune.with_parameters(trainable, base_config=cfg), resources)


def run(
    prepared: PreparedSweep,
    verbose: bool = True,
    trainable: Callable[..., None] | None = None,
    experiment: str = TRIALS_DIR,
) -> Path:
    """Run the sweep's trials on Ray Tune; returns the sweep folder.

    Args:
        prepared: the checked sweep.
        verbose: print a progress line per evaluation and trial end.
        trainable: a function ``(params, base_config)`` run as each trial; default: fine-tuning
            (``hpo.trainers.runs.trial.run_trial``). Benchmarks pass a surrogate here to reuse the rest.
        experiment: the Ray Tune experiment folder inside the sweep folder (``hpo extend``
            adds ``trials-extend-<n>`` beside the first one).
    """
    cfg, sweep_dir = prepared.config, prepared.sweep_dir
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if experiment == TRIALS_DIR:  # an extension keeps the sweep's config as it was
        (sweep_dir / CONFIG_FILE).write_text(yaml.safe_dump(cfg, sort_keys=False))
        (sweep_dir / VERSION_FILE).write_text(__version__ + "\n")
    init_ray(cfg)
    check_cluster_resources(cfg)
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    budget = sweep_budget(cfg, sweep_dir)
    guard = DiskSpaceGuard(sweep_dir)
    callbacks: list[Any] = [guard, *([budget] if budget else [])]
    callbacks += [ProgressCallback(metric, mode, budget=budget)] if verbose else []
    callbacks += build_logger_callbacks(cfg, sweep_dir=str(sweep_dir)) + [ResultJsonWriter()]
    callbacks.append(StudyJournalCallback(sweep_dir, cfg["sweep"]["name"], metric, mode, prepared.params))  # hpo dashboard
    storage_path, storage_filesystem = run_storage(cfg, sweep_dir)
    tuner = tune.Tuner(
        trial_trainable(cfg, trainable),
        param_space=prepared.search.param_space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=prepared.search.search_alg,
            scheduler=prepared.scheduler,
            num_samples=prepared.search.num_samples,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
            reuse_actors=cfg["resources"]["reuse_workers"] and workers_per_trial(cfg) == 1,
            max_concurrent_trials=data_parallel_concurrency(cfg),
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            callbacks=callbacks,
            stop=budget.stopper if budget else None,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg["sweep"]["max_failures"]),
            checkpoint_config=checkpoint_config(cfg),
        ),
    )
    quiet_ray_trial_errors()
    fit_guarded(tuner, guard)
    mirror_experiments(cfg, sweep_dir, experiment)
    return sweep_dir


def checkpoint_config(cfg: dict[str, Any]) -> tune.CheckpointConfig:
    """Each trial keeps its best evaluation's checkpoint (the one the export takes). Under PBT a trial
    copies another's latest checkpoint whenever it falls behind, so every checkpoint is kept: keeping
    only the best would delete a latest one a copy is about to read (mind the disk)."""
    if cfg["scheduler"]["name"] in POPULATION_BASED:
        return tune.CheckpointConfig(num_to_keep=None)
    if cfg["trainer"]["cv_folds"]:  # a k-fold trial's score is its mean over the most folds: keep its latest
        return tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=CV_FOLDS_DONE, checkpoint_score_order="max")
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    return tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=metric, checkpoint_score_order=mode)


def sweep_budget(cfg: dict[str, Any], sweep_dir: Path) -> SweepBudget | None:
    """The sweep-level limits of ``sweep.budget``, or None when none is set."""
    budget = cfg["sweep"]["budget"]
    if not has_budget(budget):
        return None
    gpus = float(cfg["resources"]["gpus_per_trial"] or 0) * workers_per_trial(cfg)
    return SweepBudget(budget, cfg["sweep"]["metric"], cfg["sweep"]["mode"], gpus, sweep_dir)


def quiet_ray_trial_errors() -> None:
    """Ray logs each trial error with its traceback; the progress lines and the leaderboard say it once."""
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)


def workers_per_trial(cfg: dict[str, Any]) -> int:
    """Ray Train workers per trial (``resources.workers_per_trial``; 1: the trial trains in its own process)."""
    return int(cfg["resources"]["workers_per_trial"])


def data_parallel_concurrency(cfg: dict[str, Any]) -> int | None:
    """How many data-parallel trials fit the cluster at once (None: single-process trials).

    A data-parallel trial holds no resources itself (its Train workers do), so Tune alone would
    start every trial and leave their worker groups waiting; this caps them at what fits.
    """
    workers = workers_per_trial(cfg)
    if workers == 1:
        return None
    available = ray.cluster_resources()
    fits = [int(float(available.get(name, 0)) // (workers * float(cfg["resources"][key])))
            for key, name in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")) if cfg["resources"][key]]
    return max(1, min(fits)) if fits else None


def check_cluster_resources(cfg: dict[str, Any]) -> None:
    """Reject a trial that asks for more than the whole cluster has, before it waits forever.

    Raises:
        ConfigError: naming the resource, the request and what the cluster has.
    """
    available = ray.cluster_resources()
    for key, name in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")):
        wanted = float(cfg["resources"][key] or 0) * workers_per_trial(cfg)
        has = float(available.get(name, 0))
        if wanted > has:
            raise ConfigError(
                f"resources.{key}",
                f"a trial asks for {wanted:g} {name} but the Ray cluster has {has:g} "
                f"(cluster resources: CPU={available.get('CPU', 0):g}, GPU={available.get('GPU', 0):g})"
                + (f"; {workers_per_trial(cfg)} workers per trial" if workers_per_trial(cfg) > 1 else ""),
                value=wanted,
            )
