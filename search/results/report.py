"""``hpo report <sweep dir>``: a visual report of a finished sweep, as PNGs and one self-contained HTML.

Users would rather look than read: the report shows how the search went (history, parallel
coordinates, importance, slices), how each trial learned and where ASHA or early stopping
stopped it, whether trials over- or under-fitted, how good the winner is per class, and what
the training data looks like. Each PNG is also embedded in ``report.html`` as a base64 ``data:``
URI, so the HTML opens offline and can be mailed as one file. A section with nothing to show
(e.g. no saved probabilities) says why in the HTML instead of failing the report.

``report_data`` computes, ``report_plots`` draws, this module assembles. At the end of a sweep that
logs to W&B the report is built from the results the sweep already read (:func:`try_build_report`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.layout import EVAL_REPORT_FILE, GENERATIONS_FILE, PREDICTIONS_FILE, REPORT_DIR, REPORT_HTML
from hpo.params import apply_params
from hpo.search.results import report_figures as figures
from hpo.search.results import report_plots as plots
from hpo.search.results.export import leaderboard_rows, trial_gap
from hpo.search.results.pareto import trade_offs
from hpo.search.results.records import SweepResults
from hpo.search.results.report_data import (
    UNDERFIT_FRACTION,
    BestTrial,
    NothingToShow,
    SweepData,
    diagnose,
    evaluated,
    load_sweep,
    param_importances,
    study_from_trials,
    text_stats,
)
from hpo.search.results.report_style import CSS, SORT_SCRIPT
from hpo.search.results.test_scores import test_metric


@dataclass
class Section:
    """One heading of the report: its PNG (when there is something to draw) and what else to say."""

    key: str
    title: str
    group: str
    text: str = ""
    png: Path | None = None
    extra_html: str = ""
    missing: str | None = None  # why there is nothing to show
    embed: bool = True  # False: the HTML shows extra_html instead of the PNG (a table drawn as an image)
    figure: str = ""  # the interactive Plotly figure the HTML shows instead of the PNG (which W&B gets)


GROUPS = ("The search", "The trials", "The best trial", "The data")


@dataclass
class BuiltReport:
    """The report built at the end of a sweep, or why it could not be: what the W&B summary run logs."""

    paths: dict[str, Path]  # as build_report returns them; empty when it failed
    failure: str | None = None  # "<exception type>: <message>"


def try_build_report(source: SweepResults | str | Path) -> BuiltReport:
    """:func:`build_report` as a step at the end of a sweep, where a broken plot must not lose what follows it."""
    try:
        return BuiltReport(build_report(source))
    except Exception as exc:  # the W&B summary still logs the leaderboard and the artifacts, and says why no plots
        return BuiltReport({}, f"{type(exc).__name__}: {exc}")


def build_report(source: SweepResults | str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the report of a sweep: one PNG per section and ``report.html`` embedding them all.

    Args:
        source: a finished (or partly finished) sweep folder, as ``hpo sweep`` writes it, or its
            results as the end of a sweep read them.
        out_dir: where to write; default ``<sweep_dir>/report/``.

    Returns:
        Section name (``history``, ``parallel_coordinates``, ``importance``, ``slices``,
        ``learning_curves``, ``fitting``, ``confusion_matrix``, ``roc``, ``precision_recall``,
        ``per_class``, ``class_balance``, ``text_lengths``, ``top_words``, ``wordcloud``,
        ``topics``) -> PNG path, for each section that had something to draw, plus ``html`` ->
        the HTML file.

    Raises:
        ConfigError: not a sweep folder, or no trial results in it.
    """
    data = load_sweep(source)
    out = Path(out_dir) if out_dir is not None else data.sweep_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    for build in (_search_sections, _trial_sections, _best_sections, _data_sections):
        sections += build(data, out)
    page = out / REPORT_HTML
    page.write_text(render_html(data, sections))
    paths = {s.key: s.png for s in sections if s.png is not None}
    paths["html"] = page
    return paths


def _attempt(section: Section, draw: Callable[[], Path]) -> Section:
    """Draw a section's PNG, or record why there is nothing to show."""
    try:
        section.png = draw()
    except NothingToShow as reason:
        section.missing = str(reason)
    return section


def _figure(section: Section, build: Callable[[], Any]) -> None:
    """The section's interactive figure; without one (nothing to show, or Plotly failed) the page shows the PNG."""
    try:
        section.figure = figures.figure_html(build(), section.key)
    except Exception:  # the PNG (or the reason it is missing) stands in; a figure must never lose the report
        section.figure = ""


def _search_sections(data: SweepData, out: Path) -> list[Section]:
    group = GROUPS[0]
    study = study_from_trials(data, evaluated(data))
    history = Section("history", "Optimisation history", group,
                      f"Each trial's best {data.metric} in the order the trials started; the red line is the best so far.")
    parallel = Section("parallel_coordinates", "Parallel coordinates", group,
                       f"One line per trial through its sampled values, coloured by its best {data.metric}.")
    importance = Section("importance", "Hyperparameter importance", group,
                         f"Optuna's fANOVA importance of each searched value for {data.metric}.")
    slices = Section("slices", "Slice plots", group,
                     f"Best {data.metric} against each searched value, one panel per hyperparameter; colour is the trial number.")
    _attempt(history, lambda: plots.optimisation_history(data, out / "history.png"))
    _attempt(parallel, lambda: plots.parallel_coordinates(study, data.metric, out / "parallel_coordinates.png"))
    _attempt(slices, lambda: plots.slices(study, data.metric, out / "slices.png"))
    _figure(history, lambda: figures.history(study, data.metric))
    _figure(parallel, lambda: figures.parallel_coordinates(study, data.metric))
    _figure(slices, lambda: figures.slices(study, data.metric))

    def draw_importance() -> Path:
        values, note = param_importances(data)
        importance.extra_html = _table(["hyperparameter", "importance"], [[k, f"{v:.3f}"] for k, v in values.items()])
        importance.text += f" Trials used: {note}."
        return plots.importances(values, data.metric, note, out / "importance.png")

    _attempt(importance, draw_importance)
    _figure(importance, lambda: figures.importances(param_importances(data)[0], data.metric))
    trade = trade_offs(data.results)
    if trade is None or not trade.multi_objective:
        return [history, parallel, importance, slices]
    front = Section("pareto_front", "Pareto front", group, "Each trial's objectives at its best evaluation; the front joins the "
                    "trials no other trial beats in every objective; grey: trials that break a constraint. Hover for the trial.")
    _figure(front, lambda: figures.pareto(data, trade))
    if not front.figure:
        front.missing = "fewer than two trials reported every objective"
    return [history, parallel, importance, slices, front]


def _trial_sections(data: SweepData, out: Path) -> list[Section]:
    group = GROUPS[1]
    stopped = sum(t.record.status == "stopped" for t in data.trials)
    curves = Section("learning_curves", "Learning curves", group,
                     f"{data.metric} at every evaluation of every trial. An X marks the last evaluation of a trial "
                     f"stopped before its planned evaluations (leaderboard status <code>stopped</code>: {stopped} of "
                     f"{len(data.trials)}), labelled with who stopped it: ASHA, or the trial's own early stopping.")
    _attempt(curves, lambda: plots.learning_curves(data, out / "learning_curves.png", _planned_epochs(data)))
    _figure(curves, lambda: figures.learning_curves(data, _planned_epochs(data)))

    num_labels = _num_labels(data)
    diagnoses = [diagnose(t, num_labels) for t in data.trials]
    fitting = Section(
        "fitting", "Fitting diagnosis", group,
        "Train against evaluation loss of each trial. Rule: <b>under-fitting</b> when the final train/loss and "
        f"eval/loss are both at least {UNDERFIT_FRACTION:.0%} of ln(K), the loss of guessing among K classes "
        "(dotted line); <b>over-fitting</b> when "
        "eval/loss rose at least 10% above its minimum while train/loss kept falling, or ends more than twice "
        "train/loss and 0.2 above it; <b>fine</b> otherwise. train/loss is averaged over the steps since the "
        "previous evaluation, so it lags the evaluated weights.",
    )
    fitting.extra_html = _table(
        ["trial", "status", "verdict", "final train/loss", "final eval/loss", "min eval/loss", "why"],
        [[d.trial_id, d.status, d.verdict, _num(d.train_loss), _num(d.eval_loss), _num(d.min_eval_loss), d.reason]
         for d in diagnoses],
    )
    _attempt(fitting, lambda: plots.fitting(data.trials, diagnoses, out / "fitting.png", num_labels))
    return [curves, fitting]


def _best_sections(data: SweepData, out: Path) -> list[Section]:
    best = data.best
    return prediction_sections(best, f"trial {best.trial_id}" if best else "the best trial", data.cfg["trainer"].get("task"), out)


def prediction_sections(best: BestTrial | None, who: str, task: str | None, out: Path, group: str = GROUPS[2]) -> list[Section]:
    """How good one model is per example: confusion matrix, ROC, precision-recall and the per-class
    report from its saved predictions (the sweep's best trial here; ``hpo evaluate``'s model on a file)."""
    where = f" (from <code>{html.escape(str(best.checkpoint))}</code>)" if best and best.checkpoint else ""
    matrix = Section("confusion_matrix", "Confusion matrix", group, f"Evaluation rows of {who}{where}; rows are the true labels.")
    roc = Section("roc", "ROC curves", group, f"From {who}'s predicted probabilities, one-vs-rest for more than two classes.")
    pr = Section("precision_recall", "Precision-recall curves", group, f"From {who}'s predicted probabilities.")
    table = Section("per_class", "Per-class report", group, f"Precision, recall, F1 and support of {who} per class.", embed=False)
    sections = [matrix, roc, pr, table]
    if best is None:
        for s in sections:
            s.missing = "no trial reported an evaluation"
        return sections
    if best.report is None:
        for s in (matrix, table):
            s.missing = f"the best checkpoint ({best.checkpoint}) holds no {EVAL_REPORT_FILE}"
    elif "confusion_matrix" not in best.report or "labels" not in best.report:
        for s in (matrix, table):
            s.missing = f"the best checkpoint's {EVAL_REPORT_FILE} has no classes (not a classification sweep)"
    else:
        report = best.report
        matrix.extra_html = _table(["true \\ predicted", *report["labels"]],
                                   [[name, *row] for name, row in zip(report["labels"], report["confusion_matrix"], strict=True)])
        _attempt(matrix, lambda: plots.confusion(report["confusion_matrix"], report["labels"],
                                                 f"Confusion matrix of {who}", out / "confusion_matrix.png"))
        _figure(matrix, lambda: figures.confusion(report["confusion_matrix"], report["labels"], f"Confusion matrix of {who}"))
        table.extra_html = _table(["class", "precision", "recall", "f1-score", "support"], plots.per_class_rows(report))
        _attempt(table, lambda: plots.per_class_table(report, out / "per_class.png"))
    if best.predictions is None:
        for s in (roc, pr):
            s.missing = f"the best checkpoint ({best.checkpoint}) holds no {PREDICTIONS_FILE}"
    else:
        _attempt(roc, lambda: plots.roc(best.predictions, f"ROC of {who}", out / "roc.png"))
        _attempt(pr, lambda: plots.precision_recall(best.predictions, f"Precision-recall of {who}", out / "precision_recall.png"))
        _figure(roc, lambda: figures.roc(best.predictions, f"ROC of {who}"))
        _figure(pr, lambda: figures.precision_recall(best.predictions, f"Precision-recall of {who}"))
    if task == "chat":
        sections.append(_generations(best, group, who))
    return sections


def _generations(best: Any, group: str, who: str) -> Section:
    """A chat sweep's best checkpoint's generated replies beside the references, as a table."""
    section = Section("generations", "Generated replies", group,
                      f"Validation prompts answered by {who} at its best evaluation, greedy, with the reference replies.", embed=False)
    path = Path(best.checkpoint) / GENERATIONS_FILE if best.checkpoint else None
    if path is None or not path.is_file():
        section.missing = f"the best checkpoint ({best.checkpoint}) holds no {GENERATIONS_FILE}"
        return section
    rows = json.loads(path.read_text())
    section.extra_html = _table(["prompt (its end)", "reference", "reply"], [[r["prompt"][-300:], r["reference"], r["reply"]] for r in rows])
    return section


def _data_sections(data: SweepData, out: Path) -> list[Section]:
    group = GROUPS[3]
    source = html.escape(str(data.cfg["data"].get("name")))
    sections = [
        Section("class_balance", "Class balance", group, f"Rows per class of <code>{source}</code> as the trials saw them (after subsampling and cleaning)."),
        Section("text_lengths", "Text length", group, "Words per training text, per class."),
        Section("top_words", "Most frequent words", group, "The 20 most frequent words of the training texts, English stop words removed."),
        Section("wordcloud", "Word cloud", group, "The 200 most frequent words, sized by frequency."),
        Section("topics", "Topics", group, "A small topic model (scikit-learn's LDA on word counts) of the training texts."),
    ]
    task = data.cfg["trainer"].get("task", "classification")
    if task in ("chat", "question_answering"):  # conversations and questions over contexts: no texts per class to draw
        for s in sections:
            s.missing = f"drawn for texts and their classes, not for task {task}"
        return sections
    try:
        stats = text_stats(data.cfg["data"], seed=data.cfg["sweep"].get("seed", 0), task=task)
    except (ConfigError, NothingToShow) as exc:
        for s in sections:
            s.missing = f"the training data could not be loaded: {exc}"
        return sections
    draws = (plots.class_balance, plots.text_lengths, plots.top_words, plots.word_cloud, plots.topics)
    for section, draw in zip(sections, draws, strict=True):
        _attempt(section, lambda draw=draw, key=section.key: draw(stats, out / f"{key}.png"))
    sections[-1].extra_html = _table(["topic", "top words"], [[str(i + 1), ", ".join(w for w, _ in t)] for i, t in enumerate(stats.topics)])
    return sections


def _planned_epochs(data: SweepData) -> float | None:
    planned = [apply_params(data.cfg, t.record.params)["trainer"].get("epochs") for t in data.trials]
    planned = [p for p in planned if isinstance(p, (int, float))]
    return max(planned) if planned else None


def _num_labels(data: SweepData) -> int | None:
    """K for the fitting rule's ln(K); None (the rule then skips under-fitting) without saved class names."""
    names = ((data.best.predictions or {}).get("label_names") or (data.best.report or {}).get("labels")) if data.best else None
    return len(names) if names else None


def _num(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _table(columns: list[str], rows: list[list[Any]], sortable: bool = False) -> str:
    """An HTML table in its own horizontally scrolling box, so a table wider than the page (the
    leaderboard of a sweep with many searched values) scrolls instead of being cut at the right edge;
    a ``sortable`` one sorts by a column when its heading is clicked (``SORT_SCRIPT``)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    kind = ' class="sortable" title="click a heading to sort"' if sortable else ""
    return f'<div class="scroll"><table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _embedded(png: Path, alt: str) -> str:
    encoded = base64.b64encode(png.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def render_html(data: SweepData, sections: list[Section]) -> str:
    """The whole report as one HTML page: no external CSS, JavaScript or image files."""
    sweep = data.cfg["sweep"]
    counts = {s: sum(t.record.status == s for t in data.trials) for s in ("finished", "stopped", "failed", "infeasible", "interrupted")}
    best = data.records[0] if data.records and data.records[0].best else None
    best_line = (f"best {html.escape(data.metric)} = {best.best[data.metric]:.4g} (trial {html.escape(best.trial_id)})"
                 if best else "no trial reported the metric")
    scores = data.results.test_scores
    gap = trial_gap(best, data.metric, scores) if best and scores else None
    if gap is not None:  # the winner on rows that decided nothing in the sweep
        best_line += (f"; on {scores.test_rows} test rows {html.escape(test_metric(data.metric))} = {gap.test:.4g} "
                      f"({gap.difference:+.4g}{', a LARGE validation-test gap' if gap.large else ', within noise'})")
    rows = leaderboard_rows(data.records, data.metric, scores, data.results.confirmation, trade_offs(data.results))
    columns = [c for c in (rows[0] if rows else {}) if c != "error" or any(r["error"] for r in rows)]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hpo report: {html.escape(str(sweep['name']))}</title><style>{CSS}</style>",
        figures.plotly_script() if any(s.figure for s in sections) else "", f"<script>{SORT_SCRIPT}</script></head><body>",
        f"<h1>Sweep report: {html.escape(str(sweep['name']))}</h1>",
        f'<p class="meta">{html.escape(str(data.sweep_dir))} · metric {html.escape(data.metric)} ({html.escape(data.mode)}) · '
        f"{data.cfg['model'].get('name')} on {data.cfg['data'].get('name')} · searcher {data.cfg['searcher'].get('name')}, "
        f"scheduler {data.cfg['scheduler'].get('name')} · {len(data.trials)} trials: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" · {best_line} · written {datetime.now():%Y-%m-%d %H:%M}</p>",
        "<nav>" + "".join(f'<a href="#{_anchor(g)}">{g}</a>' for g in GROUPS) + "</nav>",
        "<h2>Leaderboard</h2>",
        _table(columns, [[_cell(r[c]) for c in columns] for r in rows], sortable=True),
    ]
    for group in GROUPS:
        parts.append(f'<h2 id="{_anchor(group)}">{group}</h2>')
        parts += [section_html(s) for s in sections if s.group == group]
    parts.append("</body></html>")
    return "\n".join(parts)


def section_html(s: Section) -> str:
    """One section: its heading, text, and its embedded PNG, or why there is nothing to show."""
    parts = [f'<section id="{s.key}"><h3>{html.escape(s.title)}</h3>']
    if s.text:
        parts.append(f"<p>{s.text}</p>")
    if s.figure:
        parts.append(s.figure)
    elif s.png is not None and s.embed:
        parts.append(_embedded(s.png, s.title))
    elif s.missing:
        parts.append(f'<p class="missing">Nothing to show: {html.escape(s.missing)}</p>')
    if s.extra_html:
        parts.append(s.extra_html)
    parts.append("</section>")
    return "\n".join(parts)


def _anchor(group: str) -> str:
    return group.lower().replace(" ", "-")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
