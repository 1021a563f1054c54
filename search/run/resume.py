"""Continuing sweeps: ``hpo resume`` after the driver died, ``hpo extend`` to add trials.

Resume is Ray Tune's own experiment restore: finished trials stay finished, interrupted trials
restart from their latest checkpoint (the trial restores its optimizer and schedule too), and
the searcher's saved state comes back. Extend runs a new experiment beside the first, with the
model-based searcher (Optuna, SMAC) warm-started from every earlier trial's best evaluation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ray import tune

from hpo import __version__
from hpo.errors import ConfigError
from hpo.layout import TRIALS_DIR, VERSION_FILE, experiment_dirs, experiment_name, load_sweep_config
from hpo.legacy_names import accept_legacy_names
from hpo.search.algorithms.searchers import WARM_STARTABLE
from hpo.search.run.callbacks import ProgressCallback
from hpo.search.run.disk_guard import DiskSpaceGuard, fit_guarded
from hpo.search.run.storage import mirror_experiments, run_storage
from hpo.search.run.sweep import (
    check_output_dir,
    init_ray,
    prepare_resolved,
    quiet_ray_trial_errors,
    run,
    trial_trainable,
)


def check_same_version(sweep_dir: Path) -> None:
    """A sweep resumes with the hpo (major.minor) that started it: Ray's saved state pickles hpo's trainable
    and searcher. A folder from before versions were recorded is resumed as it is.

    Raises:
        ConfigError: naming both versions and what reads the folder whatever its version.
    """
    file = sweep_dir / VERSION_FILE
    if not file.is_file():
        return
    written = file.read_text().strip()
    if written.split(".")[:2] != __version__.split(".")[:2]:
        raise ConfigError("sweep_dir", f"written by hpo {written}, and this is hpo {__version__}: Ray's saved state of the "
                          f"sweep (the pickled trainable and searcher) restores only with hpo {written} (pip install "
                          f"hpo=={written}); hpo export, report and evaluate read the folder as it is", value=str(sweep_dir))


def resume(sweep_dir: str | Path, verbose: bool = True, address: str | None = None) -> Path:
    """Finish a sweep whose driver was interrupted; returns the sweep folder.

    Raises:
        ConfigError: the folder is not a sweep, another hpo version wrote it, or it has no experiment to resume.
    """
    sweep_dir = Path(sweep_dir).resolve()
    cfg = load_sweep_config(sweep_dir)
    check_same_version(sweep_dir)
    if address:  # the cluster the sweep continues on now (a resubmitted Slurm job has a new head), not the saved one
        cfg["cluster"]["address"] = address
    mirror_experiments(cfg, sweep_dir, TRIALS_DIR)  # with sweep.storage_path, the state lives there
    dirs = experiment_dirs(sweep_dir)
    storage_path, filesystem = run_storage(cfg, sweep_dir)
    path = str(dirs[-1]) if dirs and filesystem is None else f"{storage_path.rstrip('/')}/{dirs[-1].name}" if dirs else ""
    if not dirs or not tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        raise ConfigError("sweep_dir", "nothing to resume: no Ray Tune experiment state in this folder", value=str(sweep_dir))
    check_output_dir(sweep_dir)  # a disk that filled up stopped it: room first
    init_ray(cfg)
    accept_legacy_names()  # the experiment state of a folder written before hpo's packages moved
    tuner = tune.Tuner.restore(
        path,
        storage_filesystem=filesystem,
        trainable=trial_trainable(cfg),
        resume_unfinished=True,
        resume_errored=False,
        restart_errored=False,
    )
    run_config = tuner._local_tuner.get_run_config()
    # this driver's own progress lines and disk guard (a sweep written before the guard had none)
    run_config.callbacks = [c for c in run_config.callbacks or [] if not isinstance(c, (ProgressCallback, DiskSpaceGuard))]
    guard = DiskSpaceGuard(sweep_dir)
    run_config.callbacks.insert(0, guard)
    if verbose:
        run_config.callbacks.insert(1, ProgressCallback(cfg["sweep"]["metric"], cfg["sweep"]["mode"]))
    quiet_ray_trial_errors()
    fit_guarded(tuner, guard)
    mirror_experiments(cfg, sweep_dir, dirs[-1].name)
    return sweep_dir


def extend(sweep_dir: str | Path, trials: int, history: list[tuple[dict[str, Any], float]], verbose: bool = True) -> Path:
    """Run ``trials`` more trials of a finished sweep, the searcher warm-started from the earlier ones.

    Args:
        history: ``(params, best value)`` of every earlier trial that evaluated; the caller reads
            them from the sweep's results (``hpo.search.results``), which this room never imports.

    Raises:
        ConfigError: a grid sweep (its grid already ran once), or a bad trial count.
    """
    if trials < 1:
        raise ConfigError("--trials", "must be >= 1", value=trials)
    sweep_dir = Path(sweep_dir).resolve()
    cfg = load_sweep_config(sweep_dir)
    check_same_version(Path(sweep_dir).resolve())
    if cfg["searcher"]["name"] == "grid":
        raise ConfigError("searcher.name", "a grid sweep runs its grid exactly once; extend a random or model-based sweep", value="grid", choices=["random", *WARM_STARTABLE])
    n = len(experiment_dirs(sweep_dir))
    extended = copy.deepcopy(cfg)
    extended["sweep"]["num_trials"] = trials
    extended["sweep"]["seed"] = cfg["sweep"]["seed"] + n  # new samples, not the first run's again
    prepared = prepare_resolved(extended)
    prepared.config["sweep"]["seed"] = cfg["sweep"]["seed"]  # trials keep the sweep's data seed
    if cfg["searcher"]["name"] in WARM_STARTABLE:
        warm_start(prepared.search.search_alg, history)
    init_ray(cfg)
    return run(prepared, verbose=verbose, experiment=experiment_name(n))


def warm_start(search_alg: Any, history: list[tuple[dict[str, Any], float]]) -> None:
    """Add the earlier trials to the searcher's model as already evaluated points (Ray's
    ``Searcher.add_evaluated_point``), so it samples where they say it should."""
    searcher = getattr(search_alg, "searcher", search_alg)  # through the ConcurrencyLimiter
    for params, value in history:
        searcher.add_evaluated_point(dict(params), value)
