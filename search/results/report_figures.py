"""The report's interactive figures: Plotly, so ``report.html`` can be hovered, zoomed and filtered.

Optuna draws the search's own plots in Plotly already (history, parallel coordinates, whose axes
filter the trials by brushing, and slices); the rest are small Plotly figures over the same data
the PNGs (``report_plots``, kept for W&B) are drawn from. Each function returns the figure, or
raises ``NothingToShow`` as the PNG functions do.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from hpo.search.results.pareto import TradeOffs
from hpo.search.results.report_data import NothingToShow, SweepData, one_vs_rest


def plotly_script() -> str:
    """plotly.js itself, inlined once in the page: the report opens offline."""
    return f"<script>{get_plotlyjs()}</script>"


def figure_html(figure: go.Figure, key: str) -> str:
    """One figure as a ``<div>`` that the page's inlined plotly.js draws."""
    figure.update_layout(margin={"l": 60, "r": 30, "t": 50, "b": 50})
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{key}", config={"displaylogo": False})


def _optuna(draw: Any, study: optuna.Study, metric: str) -> go.Figure:
    if len(study.trials) < 1:
        raise NothingToShow("no trial reported the metric")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return draw(study, target_name=metric)


def history(study: optuna.Study, metric: str) -> go.Figure:
    return _optuna(optuna.visualization.plot_optimization_history, study, metric)


def parallel_coordinates(study: optuna.Study, metric: str) -> go.Figure:
    """Drag along an axis to keep only the trials in that range (Plotly's brushing)."""
    if len(study.trials) < 2 or not study.trials[0].params:
        raise NothingToShow("fewer than 2 trials with searched values")
    return _optuna(optuna.visualization.plot_parallel_coordinate, study, metric)


def slices(study: optuna.Study, metric: str) -> go.Figure:
    if not study.trials or not study.trials[0].params:
        raise NothingToShow("no searched values")
    return _optuna(optuna.visualization.plot_slice, study, metric)


def importances(values: dict[str, float], metric: str) -> go.Figure:
    if not values:
        raise NothingToShow("no importance to show")
    names = list(values)[::-1]
    figure = go.Figure(go.Bar(x=[values[n] for n in names], y=names, orientation="h"))
    figure.update_layout(title=f"Hyperparameter importance for {metric}", xaxis_title="importance", height=120 + 40 * len(names))
    return figure


def learning_curves(data: SweepData, planned_epochs: float | None) -> go.Figure:
    """The metric at each evaluation, one line per trial (click a legend entry to hide it); X where a trial was stopped."""
    trials = [t for t in data.trials if data.metric in t.history and t.history[data.metric].notna().any()]
    if not trials:
        raise NothingToShow("no trial reported the metric")
    figure = go.Figure()
    for t in trials:
        h = t.history.dropna(subset=[data.metric])
        x = h["epoch"] if "epoch" in h else h["training_iteration"]
        figure.add_trace(go.Scatter(x=x, y=h[data.metric], mode="lines+markers", name=f"{t.trial_id} ({t.record.status})"))
        if t.record.status == "stopped":
            figure.add_trace(go.Scatter(x=[x.iloc[-1]], y=[h[data.metric].iloc[-1]], mode="markers", showlegend=False,
                                        marker={"symbol": "x", "size": 12, "color": "black"},
                                        hovertext=f"{t.trial_id} stopped here ({t.stop_cause or 'stopped'})"))
    if planned_epochs:
        figure.add_vline(x=planned_epochs, line_dash="dot", line_color="gray", annotation_text="planned end")
    figure.update_layout(title=f"Learning curves: {data.metric} at each evaluation", xaxis_title="epoch", yaxis_title=data.metric)
    return figure


def confusion(matrix: list[list[int]], labels: list[str], title: str) -> go.Figure:
    figure = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", text=matrix, texttemplate="%{text}",
                                  hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                         height=260 + 40 * len(labels), width=320 + 40 * len(labels))
    return figure


def _curves(predictions: dict, kind: str, title: str) -> go.Figure:
    """One-vs-rest ROC or precision-recall curves from the saved probabilities (the positive class for two)."""
    figure = go.Figure()
    for name, truth, scores in one_vs_rest(predictions):
        if kind == "roc":
            fpr, tpr, _ = roc_curve(truth, scores)
            figure.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"class {name} (AUC {auc(fpr, tpr):.3f})"))
        else:
            precision, recall, _ = precision_recall_curve(truth, scores)
            ap = average_precision_score(truth, scores)
            figure.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=f"class {name} (AP {ap:.3f})"))
    if kind == "roc":
        figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "gray"}, name="chance"))
    axes = ("false positive rate", "true positive rate") if kind == "roc" else ("recall", "precision")
    figure.update_layout(title=title, xaxis_title=axes[0], yaxis_title=axes[1], height=480)
    return figure


def roc(predictions: dict, title: str) -> go.Figure:
    return _curves(predictions, "roc", title)


def precision_recall(predictions: dict, title: str) -> go.Figure:
    return _curves(predictions, "pr", title)


def pareto(data: SweepData, trade: TradeOffs) -> go.Figure:
    """The first two objectives of every evaluated trial, the front joined in order of the first objective."""
    x, y = trade.objectives[0], trade.objectives[1]
    trials = [t for t in data.trials if t.record.best and x.metric in t.record.best and y.metric in t.record.best]
    if len(trials) < 2:
        raise NothingToShow("fewer than two trials reported every objective")
    figure = go.Figure()
    for label, colour in (("dominated", "#1f77b4"), ("breaks a constraint", "#aaaaaa"), ("Pareto front", "#d62728")):
        chosen = [t for t in trials if _kind(trade, t.record.trial_id) == label]
        if label == "Pareto front":
            chosen.sort(key=lambda t: t.record.best[x.metric])
        figure.add_trace(go.Scatter(
            x=[t.record.best[x.metric] for t in chosen], y=[t.record.best[y.metric] for t in chosen], name=label,
            mode="lines+markers" if label == "Pareto front" else "markers", marker={"color": colour, "size": 10},
            text=[t.record.trial_id for t in chosen], hovertemplate="trial %{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>"))
    figure.update_layout(title="Pareto front", xaxis_title=f"{x.metric} ({x.mode})", yaxis_title=f"{y.metric} ({y.mode})", height=480)
    return figure


def _kind(trade: TradeOffs, trial_id: str) -> str:
    if trial_id in trade.broken:
        return "breaks a constraint"
    return "Pareto front" if trial_id in trade.front else "dominated"
