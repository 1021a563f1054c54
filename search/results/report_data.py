"""What ``hpo report`` shows, computed from a sweep folder: no drawing here (see ``report_plots``).

The trials and their learning curves come from the sweep's results as ``hpo.search.results.records``
read them once (Ray Tune's own result reader: each trial ranked by its best evaluation, with the
results it reported, one row per evaluation), the best trial's per-example predictions from its
best checkpoint, and the data from the sweep's task (``load_splits``) with the sweep's own data
config, loaded once per report, so the report explores exactly the rows the trials trained on.

Fitting diagnosis (per trial, from its train/loss and eval/loss at each evaluation):

1. **under-fitting** when both the final train/loss and the final eval/loss are at least 80% of
   ln(K), the loss of guessing uniformly among K classes: the model fits neither its training
   rows nor the evaluation rows much better than a guess. (Both, because train/loss alone
   averages the whole epoch, early steps included.)
2. **over-fitting** when the evaluation loss turned up while the training loss kept falling
   (final eval/loss at least 10% above its minimum, and final train/loss below the train/loss
   at that minimum), or when the final gap is wide (eval/loss more than twice train/loss and
   more than 0.2 above it).
3. **fine** otherwise.

train/loss is the mean over the steps since the previous evaluation (with dropout on), so it
lags the weights that were evaluated; the thresholds leave room for that.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
import yaml
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.feature_extraction.text import CountVectorizer

from hpo.layout import (
    BEST_DIR,
    EVAL_REPORT_FILE,
    EXPORT_MODEL_DIR,
    METRICS_YAML,
    PARAMS_JSON,
    PREDICTIONS_FILE,
    PROGRESS_CSV,
    RESULT_JSON,
)
from hpo.params import apply_params
from hpo.search.algorithms.space import parse_space, to_optuna
from hpo.search.results.records import SweepResults, TrialRecord, as_results

if TYPE_CHECKING:
    from hpo.trainers.data.loading import LabelledSplits

UNDERFIT_FRACTION = 0.8  # of ln(K), for both losses
OVERFIT_RISE = 0.10  # eval/loss above its minimum
GAP_RATIO, GAP_MIN = 2.0, 0.2  # eval/loss vs train/loss at the end
MAX_CLASSES = 50  # more distinct labels than this are not drawn as a class balance


class NothingToShow(Exception):  # noqa: N818 - a reason, not an error
    """A section has no data to draw; the message says why, and the report prints it."""


@dataclass
class TrialData:
    """One trial: its leaderboard record, its evaluations in order, and why it ended early."""

    record: TrialRecord
    history: pd.DataFrame
    started: float
    stop_cause: str | None = None  # "ASHA", "early stopping" or both, for stopped trials

    @property
    def trial_id(self) -> str:
        return self.record.trial_id


@dataclass
class BestTrial:
    """The winner's per-example record, as saved with its best checkpoint."""

    trial_id: str
    checkpoint: Path | None
    predictions: dict[str, Any] | None = None
    report: dict[str, Any] | None = None


@dataclass
class SweepData:
    """A finished sweep's results and what the report derives from them, for every section of the report."""

    results: SweepResults
    trials: list[TrialData]  # in start order
    distributions: dict[str, optuna.distributions.BaseDistribution] = field(default_factory=dict)
    best: BestTrial | None = None

    @property
    def sweep_dir(self) -> Path:
        return self.results.sweep_dir

    @property
    def cfg(self) -> dict[str, Any]:
        return self.results.config

    @property
    def metric(self) -> str:
        return self.results.metric

    @property
    def mode(self) -> str:
        return self.results.mode

    @property
    def records(self) -> list[TrialRecord]:
        """Every trial, ranked as the leaderboard."""
        return self.results.records


def one_vs_rest(predictions: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The curves of a saved evaluation, one per class (only the positive class's when there are two):
    ``(class name, is-this-class per row, the class's probability per row)``.

    Raises:
        NothingToShow: no per-class probabilities saved, or every row of one class (no curve to draw).
    """
    probabilities = np.asarray(predictions.get("probabilities") or [], dtype=float)
    references = np.asarray(predictions.get("references") or [])
    labels = predictions.get("label_names") or []
    if probabilities.ndim != 2 or not len(probabilities) or probabilities.shape[1] != len(labels):
        raise NothingToShow("the best checkpoint saved no per-class probabilities")
    curves = [(labels[k], references == k, probabilities[:, k]) for k in ([1] if len(labels) == 2 else range(len(labels)))]
    curves = [(name, truth, scores) for name, truth, scores in curves if truth.any() and not truth.all()]
    if not curves:
        raise NothingToShow("the evaluation rows hold a single class, so no curve can be drawn")
    return curves


def load_sweep(source: SweepResults | str | Path) -> SweepData:
    """The report's view of a sweep: ranked trials, their learning curves and the best trial's predictions.

    Args:
        source: the sweep's results as already read, or a sweep folder to read.

    Raises:
        ConfigError: not a sweep folder, or no trial results in it.
    """
    results = as_results(source)
    trials = sorted((_trial_data(r, results.config) for r in results.records), key=lambda t: (t.started, t.trial_id))
    distributions = to_optuna(parse_space(results.config.get("search_space") or {}))
    best_record = next(iter(results.evaluated), None)
    best = _best_trial(results.sweep_dir, best_record) if best_record else None
    return SweepData(results, trials, distributions, best)


def _trial_data(record: TrialRecord, cfg: dict[str, Any]) -> TrialData:
    if record.history is not None:
        history = tidy_history(record.history)
    else:  # a record built without Ray's result table
        history = read_history(record.path) if record.path else pd.DataFrame()
    if len(history) and {"timestamp", "time_total_s"} <= set(history):
        started = float(history["timestamp"].iloc[0] - history["time_total_s"].iloc[0])
    elif record.path and (record.path / PARAMS_JSON).exists():
        started = (record.path / PARAMS_JSON).stat().st_mtime
    else:
        started = math.inf
    cause = stop_cause(cfg, record.params) if record.status == "stopped" else None
    return TrialData(record, history, started, cause)


def read_history(trial_dir: Path) -> pd.DataFrame:
    """A trial's reported results, one row per evaluation (Ray's ``progress.csv``, else ``result.json``)."""
    progress, result = trial_dir / PROGRESS_CSV, trial_dir / RESULT_JSON
    if progress.is_file() and progress.stat().st_size:
        history = pd.read_csv(progress)
    elif result.is_file() and result.stat().st_size:
        history = pd.read_json(result, lines=True)
    else:
        return pd.DataFrame()
    return tidy_history(history)


def tidy_history(history: pd.DataFrame) -> pd.DataFrame:
    """One row per training iteration, in order: a resumed trial reports some iterations twice."""
    if "training_iteration" in history:
        history = history.sort_values("training_iteration").drop_duplicates("training_iteration", keep="last")
    return history.reset_index(drop=True)


def stop_cause(cfg: dict[str, Any], params: dict[str, Any]) -> str:
    """Who stopped a trial before its planned evaluations: the scheduler, the trial's early stopping, or either."""
    trial_cfg = apply_params(cfg, params)
    asha = cfg.get("scheduler", {}).get("name") == "asha"
    early = bool(trial_cfg.get("trainer", {}).get("early_stopping_patience"))
    if asha and early:
        return "ASHA or early stopping"
    return "early stopping" if early else "ASHA"


def _best_trial(sweep_dir: Path, record: TrialRecord) -> BestTrial:
    """The exported ``best/checkpoint`` when it is this trial's, else the checkpoint in Ray's trial folder."""
    exported = sweep_dir / BEST_DIR / EXPORT_MODEL_DIR
    metrics_file = sweep_dir / BEST_DIR / METRICS_YAML
    checkpoint = record.checkpoint
    exported_trial = (yaml.safe_load(metrics_file.read_text()) or {}).get("trial_id") if metrics_file.is_file() else None
    if (exported / PREDICTIONS_FILE).is_file() and exported_trial == record.trial_id:
        checkpoint = exported
    best = BestTrial(record.trial_id, checkpoint)
    if checkpoint is not None and (checkpoint / PREDICTIONS_FILE).is_file():
        best.predictions = json.loads((checkpoint / PREDICTIONS_FILE).read_text())
    if checkpoint is not None and (checkpoint / EVAL_REPORT_FILE).is_file():
        best.report = json.loads((checkpoint / EVAL_REPORT_FILE).read_text())
    return best


def evaluated(data: SweepData) -> list[TrialData]:
    """Trials with at least one finite value of the sweep's metric, in start order."""
    return [t for t in data.trials if t.record.best is not None and _finite(t.record.best.get(data.metric))]


def study_from_trials(data: SweepData, trials: list[TrialData]) -> optuna.Study:
    """An in-memory Optuna study holding each trial's sampled values and best evaluation.

    Optuna's importance evaluators and plots then work on a sweep run by any searcher. A trial
    whose values lie outside the declared space (e.g. a space edited between runs) is left out.
    """
    direction = "maximize" if data.mode == "max" else "minimize"
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a "study created" line per section is noise
    try:
        study = optuna.create_study(direction=direction)
    finally:
        optuna.logging.set_verbosity(previous)
    for t in trials:
        params = {k: v for k, v in t.record.params.items() if k in data.distributions}
        dists = {k: data.distributions[k] for k in params}
        try:
            frozen = optuna.trial.create_trial(params=params, distributions=dists, value=float(t.record.best[data.metric]))
        except ValueError:
            continue
        study.add_trial(frozen)
    return study


def param_importances(data: SweepData) -> tuple[dict[str, float], str]:
    """Optuna's fANOVA importances of the searched values for the sweep's metric, and which trials fed them.

    Finished trials are used when there are at least three; otherwise every trial with an
    evaluation (stopped ones counted at their best evaluation), and the note says so.

    Raises:
        NothingToShow: fewer than two trials, or no searched value that varies.
    """
    finished = [t for t in evaluated(data) if t.record.status == "finished"]
    trials, note = finished, f"{len(finished)} finished trials"
    if len(finished) < 3:
        trials = evaluated(data)
        note = (f"only {len(finished)} trial(s) finished, so every trial with an evaluation ({len(trials)}) is used, "
                "stopped ones at their best evaluation")
    study = study_from_trials(data, trials)
    if len(study.trials) < 2:
        raise NothingToShow(f"importance needs at least two evaluated trials; this sweep has {len(study.trials)}")
    varying = [k for k in data.distributions if len({repr(t.params.get(k)) for t in study.trials}) > 1]
    if not varying:
        raise NothingToShow("no searched hyperparameter took more than one value")
    if len({t.value for t in study.trials}) < 2:
        raise NothingToShow(f"every trial reached the same {data.metric}, so no hyperparameter made a difference")
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return optuna.importance.get_param_importances(study, evaluator=evaluator, params=varying), note


@dataclass
class Diagnosis:
    """One trial's fitting verdict and the numbers behind it."""

    trial_id: str
    status: str
    verdict: str  # over-fitting | under-fitting | fine | unknown
    reason: str
    train_loss: float | None = None
    eval_loss: float | None = None
    min_eval_loss: float | None = None


def diagnose(trial: TrialData, num_labels: int | None) -> Diagnosis:
    """The fitting verdict of one trial by the rule in this module's docstring."""
    h = trial.history
    base = Diagnosis(trial.trial_id, trial.record.status, "unknown", "")
    if not len(h) or not {"train/loss", "eval/loss"} <= set(h):
        base.reason = "no train/loss and eval/loss reported"
        return base
    h = h.dropna(subset=["train/loss", "eval/loss"])
    if not len(h):
        base.reason = "no evaluation with both losses"
        return base
    train, evals = h["train/loss"].to_numpy(float), h["eval/loss"].to_numpy(float)
    at_min = int(np.argmin(evals))
    base.train_loss, base.eval_loss, base.min_eval_loss = float(train[-1]), float(evals[-1]), float(evals[at_min])
    guess = math.log(num_labels) if num_labels and num_labels > 1 else None
    if guess is not None and min(train[-1], evals[-1]) >= UNDERFIT_FRACTION * guess:
        base.verdict = "under-fitting"
        base.reason = (f"final train/loss {train[-1]:.3f} and eval/loss {evals[-1]:.3f} both ≥ {UNDERFIT_FRACTION:.0%} "
                       f"of ln({num_labels}) = {guess:.3f} (guessing)")
    elif evals[-1] >= (1 + OVERFIT_RISE) * evals[at_min] and train[-1] < train[at_min]:
        base.verdict = "over-fitting"
        base.reason = (f"eval/loss rose from {evals[at_min]:.3f} to {evals[-1]:.3f} "
                       f"while train/loss fell from {train[at_min]:.3f} to {train[-1]:.3f}")
    elif evals[-1] > GAP_RATIO * train[-1] and evals[-1] - train[-1] > GAP_MIN:
        base.verdict = "over-fitting"
        base.reason = f"final eval/loss {evals[-1]:.3f} > {GAP_RATIO:g} × train/loss {train[-1]:.3f}"
    else:
        base.verdict = "fine"
        base.reason = f"final train/loss {train[-1]:.3f}, eval/loss {evals[-1]:.3f} (min {evals[at_min]:.3f})"
    return base


@dataclass
class TextStats:
    """The training data as explored before training."""

    label_names: list[str]
    train_counts: list[int] | None  # None: the labels are not classes (regression) or too many to draw
    eval_counts: list[int] | None
    lengths: dict[str, list[int]]  # words per training text, by class (one series "all" without classes)
    top_words: list[tuple[str, int]]
    frequencies: dict[str, int]  # for the word cloud
    topics: list[list[tuple[str, float]]]  # top words of each topic, with weights


def load_training_splits(data_cfg: dict[str, Any], seed: int, task: str) -> LabelledSplits:
    """The rows the trials trained on, loaded by the sweep's task as the trials loaded them: a report's one dataset load."""
    # the task registry imports torch, transformers and datasets: only the report's data section needs them
    from hpo.trainers.tasks.registry import get_task

    return get_task(task).load_splits(data_cfg, seed)


def text_stats(data_cfg: dict[str, Any], seed: int = 0, task: str = "classification", n_topics: int = 5, top: int = 20) -> TextStats:
    """Class balance, lengths, frequent words and LDA topics of the rows the trials trained on.

    The data is loaded by the sweep's task (``trainer.task``), as the trials loaded it: class ids
    for classification, numbers for regression, plain text without labels for language models.

    Raises:
        ConfigError: the data cannot be loaded (e.g. its files were moved since the sweep).
        NothingToShow: no training text.
    """
    splits = load_training_splits(data_cfg, seed, task)
    train = splits.train
    texts = [str(t) for t in train["text"]]
    if "text_pair" in train.column_names:
        texts = [f"{a} {b}" for a, b in zip(texts, train["text_pair"], strict=True)]
    if not texts:
        raise NothingToShow("no training rows")
    k, labels = splits.num_labels, list(train["label"]) if "label" in train.column_names else []
    classes = 1 < k <= MAX_CLASSES and all(isinstance(y, int) for y in labels)
    train_counts = eval_counts = None
    if classes:
        train_counts = [Counter(labels).get(i, 0) for i in range(k)]
        eval_counts = [Counter(splits.eval["label"] if "label" in splits.eval.column_names else []).get(i, 0) for i in range(k)]
        lengths: dict[str, list[int]] = {name: [] for name in splits.label_names}
        for text, label in zip(texts, labels, strict=True):
            lengths[splits.label_names[label]].append(len(text.split()))
    else:
        lengths = {"all": [len(text.split()) for text in texts]}

    counter = CountVectorizer(stop_words="english")
    counts = counter.fit_transform(texts)
    totals = np.asarray(counts.sum(axis=0)).ravel()
    vocabulary = counter.get_feature_names_out()
    order = np.argsort(-totals, kind="stable")
    top_words = [(str(vocabulary[i]), int(totals[i])) for i in order[:top]]
    frequencies = {str(vocabulary[i]): int(totals[i]) for i in order[:200]}

    topic_counter = CountVectorizer(stop_words="english", max_df=0.95, min_df=2 if len(texts) >= 20 else 1, max_features=2000)
    topic_counts = topic_counter.fit_transform(texts)
    words = topic_counter.get_feature_names_out()
    n = min(n_topics, max(1, topic_counts.shape[1] // 5))
    lda = LatentDirichletAllocation(n_components=n, random_state=seed, learning_method="batch", max_iter=20)
    lda.fit(topic_counts)
    topics = []
    for weights in lda.components_:
        best = np.argsort(-weights)[:8]
        topics.append([(str(words[i]), float(weights[i] / weights.sum())) for i in best])
    return TextStats(splits.label_names, train_counts, eval_counts, lengths, top_words, frequencies, topics)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value))
