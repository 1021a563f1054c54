"""A sweep folder's trials, read once with Ray Tune's own result reader, ranked by their best evaluation.

Export, report, ensemble and the W&B summary all start from the same ranked records; the end of a
sweep reads them once (:func:`read_results`) and hands the :class:`SweepResults` to each, and a
command that reads a folder on its own (``hpo export``, ``hpo report``, ``hpo ensemble``) reads it
the same way. Trials are ranked by their best evaluation, not their last: ASHA and over-fitting
both make the last one misleading.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError
from hpo.layout import PARAMS_JSON, TRIALS_DIR, experiment_dirs, load_sweep_config, read_checkpoint_metadata
from hpo.legacy_names import accept_legacy_names
from hpo.params import plain_value
from hpo.ranking import CV_FOLDS_DONE
from hpo.search.config.schema import with_defaults
from hpo.search.results.confirmation import Confirmation, read_confirmation
from hpo.search.results.test_scores import TestScores, read_test_scores
from hpo.trial_status import INFEASIBLE, error_summary, outcome

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TrialRecord:
    """One trial as the leaderboard shows it, with the results it reported (for the report's curves)."""

    trial_id: str
    status: str  # finished | stopped | failed
    params: dict[str, Any]
    evaluations: int
    best: dict[str, Any] | None = None
    checkpoint: Path | None = None
    error: str | None = None
    path: Path | None = None
    history: pd.DataFrame | None = field(default=None, repr=False)  # Ray's result table, one row per report


@dataclass
class SweepResults:
    """A sweep folder read once: its resolved config and every trial, best first."""

    sweep_dir: Path
    config: dict[str, Any]
    records: list[TrialRecord]
    test_scores: TestScores | None = None  # the top trials on the test split, once scored
    confirmation: Confirmation | None = None  # the top configurations over several seeds (hpo confirm)

    @property
    def metric(self) -> str:
        return self.config["sweep"]["metric"]

    @property
    def mode(self) -> str:
        return self.config["sweep"]["mode"]

    @property
    def evaluated(self) -> list[TrialRecord]:
        """The trials with at least one evaluation, best first."""
        return [r for r in self.records if r.best is not None]


def read_results(sweep_dir: str | Path) -> SweepResults:
    """Read a sweep folder (written by any version of ``hpo sweep``): its config and its ranked trials.

    Raises:
        ConfigError: not a sweep folder, or no trial results in it.
    """
    sweep_dir = Path(sweep_dir).resolve()
    cfg = with_defaults(load_sweep_config(sweep_dir))
    records = collect_trials(sweep_dir, cfg["sweep"]["metric"], cfg["sweep"]["mode"])
    return SweepResults(sweep_dir, cfg, records, read_test_scores(sweep_dir), read_confirmation(sweep_dir))


def as_results(source: SweepResults | str | Path) -> SweepResults:
    """``source`` itself when it was read already, else the sweep folder it names, read now."""
    return source if isinstance(source, SweepResults) else read_results(source)


def collect_trials(sweep_dir: str | Path, metric: str, mode: str) -> list[TrialRecord]:
    """Read every trial of a sweep folder (``trials/`` and each extension's), ranked best first.

    Raises:
        ConfigError: no trial results in the folder.
    """
    dirs = experiment_dirs(sweep_dir)
    if not dirs:
        raise ConfigError("sweep_dir", f"no trial results in {Path(sweep_dir) / TRIALS_DIR}", value=str(sweep_dir))
    return rank_trials([r for d in dirs for r in collect_experiment(d, metric, mode)], metric, mode)


def collect_experiment(directory: Path, metric: str, mode: str) -> list[TrialRecord]:
    """The trials of one Ray Tune experiment folder (unranked)."""
    return [_record(trial, result, metric, mode) for trial, result in _read_experiment(directory, metric, mode)]


def _read_experiment(directory: Path, metric: str, mode: str) -> list[tuple[Any, Any]]:
    """``(trial, result)`` of every trial in one Ray Tune experiment folder: the one place a sweep's trials are read."""
    # ray.tune: seconds to import, and only reading results needs it (not `hpo --help` or a config check)
    from ray.tune import ExperimentAnalysis, ResultGrid

    accept_legacy_names()  # the experiment state of a folder written before hpo's packages moved
    analysis = ExperimentAnalysis(str(directory), default_metric=metric, default_mode=mode)
    return list(zip(analysis.trials, ResultGrid(analysis), strict=True))


def _record(trial: Any, result: Any, metric: str, mode: str) -> TrialRecord:
    history = result.metrics_dataframe
    evaluations = 0 if history is None or metric not in history else int(history[metric].notna().sum())
    best, checkpoint = _best_evaluation(result, metric, mode)
    return TrialRecord(
        # Ray's trial, not its last result: a PBT trial that copied another's checkpoint last reports that one's id
        trial_id=str(trial.trial_id),
        status=outcome("ERROR" if result.error else trial.status, result.metrics),
        params={key: plain_value(value) for key, value in (result.config or _params_file(result.path)).items()},
        evaluations=evaluations,
        best=best,
        checkpoint=checkpoint,
        error=error_summary(result.error) if result.error else (result.metrics or {}).get(INFEASIBLE),
        path=Path(result.path),
        history=history,
    )


def _best_evaluation(result: Any, metric: str, mode: str) -> tuple[dict[str, Any] | None, Path | None]:
    """The best evaluation's metrics and, when Ray kept it, its checkpoint folder."""
    kept = _kept_checkpoints(result, metric)
    if kept and CV_FOLDS_DONE in kept[0][0]:
        most = max(m[CV_FOLDS_DONE] for m, _ in kept)
        kept = [(m, c) for m, c in kept if m[CV_FOLDS_DONE] == most]
    if kept:
        metrics, checkpoint = (max if mode == "max" else min)(kept, key=lambda mc: mc[0][metric])
        return dict(metrics), checkpoint
    history = result.metrics_dataframe
    if history is None or metric not in history or history[metric].notna().sum() == 0:
        return None, None
    if CV_FOLDS_DONE in history:
        history = history[history[CV_FOLDS_DONE] == history[CV_FOLDS_DONE].max()]
    index = history[metric].idxmax() if mode == "max" else history[metric].idxmin()
    return history.loc[index].to_dict(), None


def _kept_checkpoints(result: Any, metric: str) -> list[tuple[dict[str, Any], Path]]:
    """The trial's checkpoints with their metrics, as Ray's experiment state lists them, or as the trial
    folder holds them when a listed one is gone: a driver killed after Ray deleted a superseded checkpoint
    but before it saved its state again leaves the state naming a folder that no longer exists."""
    listed = [(m, Path(c.path)) for c, m in (result.best_checkpoints or []) if _finite(m.get(metric))]
    if all(path.is_dir() for _, path in listed):
        return listed
    on_disk = []
    for folder in sorted(Path(result.path).glob("checkpoint_*")):
        metrics = read_checkpoint_metadata(folder).get("metrics", {})
        if _finite(metrics.get(metric)):
            on_disk.append((metrics, folder))
    return on_disk


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _params_file(trial_path: str) -> dict[str, Any]:
    """The sampled values Ray wrote at trial start; a trial that failed before reporting has no other copy."""
    path = Path(trial_path) / PARAMS_JSON
    return json.loads(path.read_text()) if path.is_file() else {}


def rank_trials(records: list[TrialRecord], metric: str, mode: str) -> list[TrialRecord]:
    """Best first by each trial's best evaluation; trials with no evaluation last."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(records, key=lambda r: (r.best is None, sign * r.best[metric] if r.best else 0.0, r.trial_id))


def evaluated_history(source: SweepResults | str | Path) -> list[tuple[dict[str, Any], float]]:
    """``(params, best value)`` of every trial that evaluated: what ``hpo extend`` warm-starts the searcher with."""
    results = as_results(source)
    return [(r.params, r.best[results.metric]) for r in results.evaluated]
