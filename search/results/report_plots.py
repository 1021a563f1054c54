"""How ``hpo report`` draws: one PNG per section, with matplotlib's Agg backend (no display needed).

Where Optuna or scikit-learn already draw a plot (parallel coordinates, slices, ROC and
precision-recall curves, confusion matrices) their own functions are used on the data from
``report_data``; the rest are plain matplotlib. Every function writes its PNG and returns the
path, or raises ``NothingToShow`` with the reason the report prints instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay  # noqa: E402
from wordcloud import WordCloud  # noqa: E402

from hpo.search.results.report_data import (  # noqa: E402
    Diagnosis,
    NothingToShow,
    SweepData,
    TextStats,
    TrialData,
    evaluated,
    one_vs_rest,
)

DPI = 100
STATUS_STYLE = {"finished": dict(marker="o", color="tab:blue"), "stopped": dict(marker="X", color="tab:orange")}
VERDICT_COLOUR = {"fine": "tab:green", "over-fitting": "tab:red", "under-fitting": "tab:purple", "unknown": "tab:gray"}


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def optimisation_history(data: SweepData, path: Path) -> Path:
    """Each trial's best evaluation in start order, and the sweep's best so far as a step line."""
    trials = evaluated(data)
    if not trials:
        raise NothingToShow("no trial reported the metric")
    values = np.array([float(t.record.best[data.metric]) for t in trials])
    best_so_far = (np.maximum if data.mode == "max" else np.minimum).accumulate(values)
    x = np.arange(1, len(values) + 1)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for status, style in STATUS_STYLE.items():
        mask = np.array([t.record.status == status for t in trials])
        if mask.any():
            ax.scatter(x[mask], values[mask], s=50, label=f"{status} trial (best evaluation)", zorder=3, **style)
    ax.step(x, best_so_far, where="post", color="tab:red", lw=2, label="best so far")
    ax.set(xlabel="trial (in start order)", ylabel=data.metric,
           title=f"Optimisation history: {data.metric} ({data.mode})")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _save(fig, path)


def _study_figure(draw, study: optuna.Study, path: Path, metric: str, width: float | None = None) -> Path:
    """Run one of Optuna's matplotlib plots on the in-memory study and save it."""
    # rc_context: Optuna's plots switch matplotlib to its ggplot style globally; keep it to this figure
    with warnings.catch_warnings(), plt.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = draw(study, target_name=metric)
    fig = np.ravel(axes)[0].figure
    for ax in fig.axes:  # Optuna labels every minor tick of a log axis; they overlap
        if ax.get_xscale() == "log":
            ax.xaxis.set_minor_formatter(NullFormatter())
    if width is not None:
        fig.set_size_inches(width, fig.get_size_inches()[1])
    return _save(fig, path)


def parallel_coordinates(study: optuna.Study, metric: str, path: Path) -> Path:
    """Optuna's parallel coordinates: one line per trial across the searched values, coloured by the metric."""
    if len(study.trials) < 2 or not study.trials[0].params:
        raise NothingToShow("needs at least two evaluated trials with searched values")
    return _study_figure(optuna.visualization.matplotlib.plot_parallel_coordinate, study, path, metric, width=11)


def slices(study: optuna.Study, metric: str, path: Path) -> Path:
    """Optuna's slice plot: the metric against each searched value, one panel per hyperparameter."""
    params = sorted({k for t in study.trials for k in t.params})
    if not study.trials or not params:
        raise NothingToShow("no evaluated trial with searched values")
    return _study_figure(optuna.visualization.matplotlib.plot_slice, study, path, metric, width=max(6.0, 3.6 * len(params)))


def importances(values: dict[str, float], metric: str, note: str, path: Path) -> Path:
    """Horizontal bars of Optuna's importance of each searched value, most important on top."""
    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    bars = ax.barh(names, [values[n] for n in names], color="tab:blue")
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set(xlabel=f"importance for {metric} (fANOVA, sums to 1)", xlim=(0, max(1.0, max(values.values())) * 1.12),
           title="Hyperparameter importance")
    ax.text(0, -0.2, note, transform=ax.transAxes, fontsize=8, va="top", wrap=True)
    return _save(fig, path)


def learning_curves(data: SweepData, path: Path, planned_epochs: float | None) -> Path:
    """The metric at every evaluation of every trial; an X where ASHA or early stopping stopped a trial."""
    trials = [t for t in data.trials if data.metric in t.history and t.history[data.metric].notna().any()]
    if not trials:
        raise NothingToShow("no trial reported the metric")
    fig, ax = plt.subplots(figsize=(11, 5.5))
    colours = plt.get_cmap("tab10" if len(trials) <= 10 else "tab20")
    stop_labelled = False
    for i, t in enumerate(trials):
        h = t.history.dropna(subset=[data.metric])
        x = h["epoch"] if "epoch" in h else h["training_iteration"]
        colour = colours(i % colours.N)
        ax.plot(x, h[data.metric], marker=".", color=colour, label=f"{t.trial_id} ({t.record.status})")
        if t.record.status == "stopped":
            ax.scatter(x.iloc[-1], h[data.metric].iloc[-1], marker="X", s=140, color=colour, edgecolor="black", zorder=4,
                       label="stopped here (ASHA / early stopping)" if not stop_labelled else None)
            ax.annotate(t.stop_cause or "stopped", (x.iloc[-1], h[data.metric].iloc[-1]), textcoords="offset points",
                        xytext=(6, -10), fontsize=7)
            stop_labelled = True
    if planned_epochs:
        ax.axvline(planned_epochs, color="gray", ls=":", label="planned end")
    ax.set(xlabel="epoch", ylabel=data.metric, title=f"Learning curves: {data.metric} at each evaluation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def fitting(trials: Sequence[TrialData], diagnoses: Sequence[Diagnosis], path: Path, num_labels: int | None = None) -> Path:
    """Train against evaluation loss for each trial, titled with its verdict, with the loss of guessing (ln K)."""
    pairs = [(t, d) for t, d in zip(trials, diagnoses, strict=True) if d.verdict != "unknown"]
    if not pairs:
        raise NothingToShow("no trial reported both train/loss and eval/loss")
    cols = min(4, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    for ax, (t, d) in zip(axes.ravel(), pairs, strict=False):
        h = t.history.dropna(subset=["train/loss", "eval/loss"])
        x = h["epoch"] if "epoch" in h else h["training_iteration"]
        ax.plot(x, h["train/loss"], marker="o", label="train/loss")
        ax.plot(x, h["eval/loss"], marker="s", label="eval/loss")
        if num_labels and num_labels > 1:
            ax.axhline(math.log(num_labels), color="gray", ls=":", lw=1, label=f"ln({num_labels}): guessing")
        top = max(h["train/loss"].max(), h["eval/loss"].max(), math.log(num_labels) if num_labels else 0)
        ax.set_ylim(0, 1.1 * top)  # from zero: a single evaluation's two points are comparable across panels
        ax.set_title(f"{t.trial_id}: {d.verdict}", color=VERDICT_COLOUR[d.verdict], fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Fitting diagnosis: train/loss against eval/loss per trial")
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> Path:
    """scikit-learn's confusion-matrix display of the saved matrix (rows: true labels)."""
    size = max(4.5, 0.6 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    ConfusionMatrixDisplay(np.array(matrix), display_labels=labels).plot(ax=ax, cmap="Blues", colorbar=True, values_format="d")
    ax.set_title(title)
    return _save(fig, path)


def _one_vs_rest(predictions: dict, draw, title: str, path: Path, chance: str) -> Path:
    """One curve per class (one for the positive class when there are two), from the saved probabilities.

    ``chance``: draw the chance level ``once`` (ROC's diagonal) or only for ``binary`` data
    (precision-recall's chance level is each class's prevalence).
    """
    curves = one_vs_rest(predictions)
    binary = len(predictions["label_names"]) == 2
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for drawn, (name, truth, scores) in enumerate(curves):
        draw(truth, scores, name=f"class {name}", ax=ax, plot_chance_level=drawn == 0 and (chance == "once" or binary))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def roc(predictions: dict, title: str, path: Path) -> Path:
    """scikit-learn's ROC curves (one-vs-rest) with their AUC."""
    return _one_vs_rest(predictions, RocCurveDisplay.from_predictions, title, path, chance="once")


def precision_recall(predictions: dict, title: str, path: Path) -> Path:
    """scikit-learn's precision-recall curves (one-vs-rest) with their average precision."""
    return _one_vs_rest(predictions, PrecisionRecallDisplay.from_predictions, title, path, chance="binary")


def per_class_table(report: dict, path: Path) -> Path:
    """The per-class precision, recall, F1 and support as a table image (the HTML shows it as a table)."""
    rows = per_class_rows(report)
    if not rows:
        raise NothingToShow("the best checkpoint saved no per-class report")
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1))
    ax.axis("off")
    table = ax.table(cellText=[r[1:] for r in rows], rowLabels=[r[0] for r in rows],
                     colLabels=["precision", "recall", "f1-score", "support"], loc="center")
    table.scale(1, 1.4)
    ax.set_title("Per-class report of the best trial")
    return _save(fig, path)


def per_class_rows(report: dict) -> list[list[str]]:
    """Rows (name, precision, recall, F1, support) of a ``classification_report`` dict."""
    rows = []
    for name, values in (report.get("per_class") or {}).items():
        if isinstance(values, dict):
            rows.append([name, *(f"{values[k]:.3f}" for k in ("precision", "recall", "f1-score")), f"{values['support']:.0f}"])
        else:  # accuracy is a bare number
            rows.append([name, "", "", f"{values:.3f}", ""])
    return rows


def class_balance(stats: TextStats, path: Path) -> Path:
    """Rows per class in the training and evaluation data."""
    if stats.train_counts is None or stats.eval_counts is None:
        raise NothingToShow("the data has no classes (regression or language modelling), or more than a chart can show")
    x = np.arange(len(stats.label_names))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(x) + 3), 4))
    for offset, (name, counts) in zip((-0.2, 0.2), (("train", stats.train_counts), ("eval", stats.eval_counts)), strict=True):
        bars = ax.bar(x + offset, counts, width=0.4, label=name)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(x, stats.label_names)
    ax.set(xlabel="class", ylabel="rows", title="Class balance")
    ax.legend()
    return _save(fig, path)


def text_lengths(stats: TextStats, path: Path) -> Path:
    """Histogram of words per training text, one series per class."""
    every = [n for lengths in stats.lengths.values() for n in lengths]
    if not every:
        raise NothingToShow("no training text")
    bins = np.histogram_bin_edges(every, bins=min(40, max(5, len(set(every)))))
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, lengths in stats.lengths.items():
        if lengths:
            ax.hist(lengths, bins=bins, alpha=0.55, label=f"class {name}" if len(stats.lengths) > 1 else "all texts")
    ax.set(xlabel="words per training text", ylabel="texts", title="Text length")
    ax.legend()
    return _save(fig, path)


def top_words(stats: TextStats, path: Path) -> Path:
    """The most frequent words of the training texts (English stop words left out)."""
    if not stats.top_words:
        raise NothingToShow("no words left after removing stop words")
    words, counts = zip(*stats.top_words[::-1], strict=True)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(words) + 1.2))
    ax.barh(words, counts, color="tab:green")
    ax.set(xlabel="occurrences", title="Most frequent words (training texts, stop words removed)")
    return _save(fig, path)


def word_cloud(stats: TextStats, path: Path) -> Path:
    """A word cloud of the training texts' word frequencies (the ``wordcloud`` package)."""
    if not stats.frequencies:
        raise NothingToShow("no words left after removing stop words")
    cloud = WordCloud(width=1000, height=450, background_color="white", random_state=0, colormap="viridis")
    cloud.generate_from_frequencies(stats.frequencies).to_file(str(path))
    return path


def topics(stats: TextStats, path: Path) -> Path:
    """The top words of each LDA topic, with their share of the topic."""
    if not stats.topics:
        raise NothingToShow("no topics")
    n = len(stats.topics)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.8), squeeze=False)
    for i, (ax, topic) in enumerate(zip(axes[0], stats.topics, strict=True)):
        words, weights = zip(*topic[::-1], strict=True)
        ax.barh(words, weights, color="tab:purple")
        ax.set_title(f"topic {i + 1}", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("Topics of the training texts (LDA)")
    fig.tight_layout()
    return _save(fig, path)
