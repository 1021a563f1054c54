"""K-fold cross-validation as a trial mode (``trainer.cv_folds: k``).

The training rows are cut into k folds (stratified by class for classification, by
scikit-learn's ``StratifiedKFold``); each fold trains a fresh model on the other k-1 folds and is
scored on its own rows. The trial reports once per finished fold, with the mean and standard
deviation over the folds so far: the scheduler can drop a configuration after one bad fold,
and the last report holds all k. Each fold's best evaluation is kept in the report
(``cv/fold<i>/<metric>``) and in ``cv_folds.json`` beside the checkpoint. The data's own
evaluation split is not used. A resumed trial keeps the folds it finished and redoes the rest.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.model_selection import KFold, StratifiedKFold

from hpo.errors import ConfigError
from hpo.layout import CV_FILE
from hpo.ranking import CV_FOLDS_DONE, is_better
from hpo.trainers.data.columns import column_values
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.engine.checkpoint import EvaluationRecord, ResumeState, Snapshot
from hpo.trainers.engine.loop import train_on_splits
from hpo.trainers.engine.reporting import FineTuneResult, OnEvaluation
from hpo.trainers.engine.state import TrainingState
from hpo.trainers.tasks.base import Task


@dataclass
class FoldsRecord:
    """Every finished fold's best evaluation, saved beside the checkpoint; wraps the fold's own record."""

    folds: list[dict[str, float]]
    evaluation: EvaluationRecord | None = None

    def save(self, directory: str | Path) -> None:
        """``cv_folds.json``, and the current fold's predictions and report."""
        if self.evaluation is not None:
            self.evaluation.save(directory)
        (Path(directory) / CV_FILE).write_text(json.dumps({"folds": self.folds}, indent=1))


def fold_indices(splits: LabelledSplits, k: int, stratify: bool, seed: int) -> list[tuple[list[int], list[int]]]:
    """``(train rows, held-out rows)`` per fold; the driver calls it too, so impossible folds fail before any trial.

    Raises:
        ConfigError: more folds than the rows (or the rarest class) allow.
    """
    rows = len(splits.train)
    labels = column_values(splits.train, "label") if stratify and "label" in splits.train.column_names else None
    if labels is not None:
        rarest = min(labels.count(y) for y in set(labels))
        if k > rarest:
            raise ConfigError("trainer.cv_folds", f"the rarest class has {rarest} training rows, fewer than the folds", value=k)
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        if k > rows:
            raise ConfigError("trainer.cv_folds", f"only {rows} training rows", value=k)
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train.tolist(), held_out.tolist()) for train, held_out in splitter.split(list(range(rows)), labels)]


def summarise(folds: list[dict[str, float]], metric: str) -> dict[str, float]:
    """Mean and standard deviation of every evaluation metric over the finished folds."""
    out: dict[str, float] = {}
    keys = [k for k in folds[0] if k.startswith("eval/")]
    for key in keys:
        values = [fold[key] for fold in folds if key in fold]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
    for i, fold in enumerate(folds):
        out[f"cv/fold{i}/{metric.split('/', 1)[-1]}"] = fold[metric]
    out[CV_FOLDS_DONE] = len(folds)
    return out


def cross_validate(
    cfg: dict[str, Any], task: Task, splits: LabelledSplits, on_evaluation: OnEvaluation, resume: ResumeState | None = None,
) -> FineTuneResult:
    """Train one model per fold and report the running mean after each; see the module docstring."""
    trainer, sweep = cfg["trainer"], cfg["sweep"]
    metric, mode = sweep["metric"], sweep["mode"]
    k = trainer["cv_folds"]
    folds = fold_indices(splits, k, stratify=task.labels == "classes", seed=trainer["seed"])
    saved = resume.training_state if resume is not None else TrainingState()
    done: list[dict[str, float]] = list(saved.cv_folds or [])
    result = FineTuneResult(history=list(saved.history), best=saved.best)  # as a plain run resumes its best
    for index in range(len(done), k):
        train_rows, held_out = folds[index]
        fold = LabelledSplits(splits.train.select(train_rows), splits.train.select(held_out), splits.label_names, splits.report)
        best = _best_of_fold(cfg, task, fold)
        done.append({k: v for k, v in best["metrics"].items() if k.startswith(("eval/", "train/")) or k == "epoch"})
        metrics = {
            **summarise(done, metric),
            "epoch": float(len(done)),
            "step": len(done),
            "evaluations_planned": k,
            **{key: value for key, value in best["metrics"].items() if key.startswith(("data/", "adapt/"))},
        }
        result.add(metrics, metric, mode)
        state = TrainingState(step=len(done), history=result.history, best=result.best, cv_folds=done)
        on_evaluation(metrics, Snapshot(best["model"], best["tokenizer"], state, FoldsRecord(done, best["evaluation"])))
    return result


def _best_of_fold(cfg: dict[str, Any], task: Task, fold: LabelledSplits) -> dict[str, Any]:
    """Train on one fold: its best evaluation's metrics and record, and the trained model and tokenizer."""
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    best: dict[str, Any] = {}

    def keep_best(metrics: dict[str, float], snapshot: Snapshot) -> None:
        if is_better(metrics[metric], best["metrics"][metric] if best else None, mode):
            best.update(metrics=metrics, evaluation=snapshot.evaluation)
        best.update(model=snapshot.model, tokenizer=snapshot.tokenizer)

    train_on_splits(cfg, task, fold, keep_best)
    return best
