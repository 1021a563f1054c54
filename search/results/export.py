"""Results of a finished sweep: the leaderboard and the best (or top-k) trials' config, checkpoint and manifest.

The trials come ranked by their best evaluation (``hpo.search.results.records``), and the exported
checkpoint is the one saved at that best evaluation, not the last.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError
from hpo.layout import (
    BEST_DIR,
    CONFIG_FILE,
    EXPORT_MERGED_DIR,
    EXPORT_MODEL_DIR,
    LEADERBOARD_CSV,
    LEADERBOARD_MD,
    METRICS_YAML,
    MODEL_CARD_FILE,
    PARETO_DIR,
    TOP_DIR,
    TRAINING_STATE_FILE,
    top_bundle,
)
from hpo.search.results.budget_record import budget_summary, read_budget_record
from hpo.search.results.confirmation import Confirmation
from hpo.search.results.manifest import build_manifest, write_manifest
from hpo.search.results.model_card import model_card
from hpo.search.results.pareto import TradeOffs, trade_offs
from hpo.search.results.records import SweepResults, TrialRecord, as_results
from hpo.search.results.test_scores import Gap, TestScores, test_metric, validation_test_gap
from hpo.search.results.trial_config import trial_config
from hpo.trainers.models.lora_check import is_adapter_checkpoint


def leaderboard_rows(
    records: list[TrialRecord], metric: str, test_scores: TestScores | None = None, confirmation: Confirmation | None = None,
    trade: TradeOffs | None = None,
) -> list[dict[str, Any]]:
    """Flat rows for the CSV and Markdown leaderboards (with the test split's figures once scored, the
    mean over seeds of the configurations ``hpo confirm`` retrained, and the Pareto front or the broken
    constraints of a multi-objective or constrained sweep)."""
    param_keys = sorted({k for r in records for k in r.params})
    metric_keys = sorted({k for r in records if r.best for k in r.best if k.startswith("eval/") and k != metric})
    rows = []
    for rank, r in enumerate(records, start=1):
        row: dict[str, Any] = {"rank": rank, "trial": r.trial_id, "status": r.status}
        if trade is not None:
            row["trade-off"] = trade.label(r.trial_id) if r.best else ""
        row[f"best {metric}"] = r.best.get(metric) if r.best else None
        if confirmation is not None:
            confirmed = confirmation.of(r.trial_id)
            row[f"mean {metric} [95%] over {len(confirmation.seeds)} seeds"] = (
                f"{confirmed.mean:.4g} [{confirmed.low:.4g}, {confirmed.high:.4g}]" if confirmed else "")
        if test_scores is not None:
            gap = trial_gap(r, metric, test_scores)
            row[test_metric(metric)] = gap.test if gap else None
            row["validation-test gap"] = (f"{gap.difference:+.4g}" + (" LARGE" if gap.large else "")) if gap else ""
        row["best epoch"] = r.best.get("epoch") if r.best else None
        row["evaluations"] = r.evaluations
        for key in metric_keys:
            row[key] = r.best.get(key) if r.best else None
        for key in param_keys:
            row[key] = r.params.get(key)
        row["error"] = r.error or ""
        rows.append(row)
    return rows


def trial_gap(record: TrialRecord, metric: str, scores: TestScores) -> Gap | None:
    """The trial's sweep metric on validation and test rows, if it was scored on the test split."""
    scored = scores.of(record.trial_id)
    if not record.best or scored is None or test_metric(metric) not in scored:
        return None
    return validation_test_gap(metric, float(record.best[metric]), scored[test_metric(metric)], scores)


def confirmation_header(confirmation: Confirmation | None) -> str:
    """The leaderboard's line on ``hpo confirm``, or nothing before it ran."""
    if confirmation is None:
        return ""
    return (f"Confirmed: the top {len(confirmation.ranked)} configurations retrained with {len(confirmation.seeds)} seeds "
            f"each (`hpo confirm`, confirmation.md); `best/` is the best mean, trial {confirmation.ranked[0].trial_id}.\n\n")


def test_header(scores: TestScores | None, metric: str) -> str:
    """The leaderboard's line on the test split, or nothing without one."""
    if scores is None:
        return ""
    return (f"Test split: the top {len(scores.trials)} trials scored on {scores.test_rows} test rows that no trial "
            f"trained, was ranked or was stopped on (validation: {scores.validation_rows} rows); `{test_metric(metric)}` "
            f"beside the validation `{metric}`. LARGE: the gap exceeds two standard errors of the difference "
            f"(a loss-like metric: 10% of its value).\n\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table of the leaderboard rows."""
    if not rows:
        return "(no trials)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class ExportSummary:
    """What ``hpo export`` wrote, for the CLI to print."""

    sweep_dir: Path
    leaderboard: str
    best_dir: Path | None
    best: TrialRecord | None
    records: list[TrialRecord]
    top_dirs: list[Path] = field(default_factory=list)
    test_scores: TestScores | None = None
    confirmation: Confirmation | None = None
    trade: TradeOffs | None = None
    pareto_dirs: list[Path] = field(default_factory=list)


def export(source: SweepResults | str | Path, top_k: int | None = None, pareto: bool = False) -> ExportSummary:
    """Write the leaderboard (CSV, Markdown), ``best/`` (config.yaml, checkpoint/, metrics.yaml,
    manifest.json) and, with ``top_k``, ``top/rank-<n>-<trial>/`` for the k best trials.

    Args:
        source: the sweep's results as the end of a sweep read them, or a sweep folder to read.
        top_k: also write a bundle for each of the k best trials.
        pareto: also write a bundle for each trial on the Pareto front (``pareto/``), for a multi-objective sweep.

    Raises:
        ConfigError: not a sweep folder, or ``top_k`` below 1 or above the number of trials with an evaluation.
    """
    results = as_results(source)
    sweep_dir, cfg, metric = results.sweep_dir, results.config, results.metric
    evaluated = results.evaluated
    if top_k is not None:
        check_top_k(top_k, len(evaluated), "trials with an evaluation")
    trade = trade_offs(results)
    rows = leaderboard_rows(results.records, metric, results.test_scores, results.confirmation, trade)
    with (sweep_dir / LEADERBOARD_CSV).open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    table = markdown_table(rows)
    budget = budget_summary(read_budget_record(sweep_dir))
    (sweep_dir / LEADERBOARD_MD).write_text(
        f"# Leaderboard: {cfg['sweep']['name']}\n\nRanked by each trial's best `{metric}` ({results.mode}).\n\n"
        + (f"{budget}\n\n" if budget else "") + confirmation_header(results.confirmation)
        + test_header(results.test_scores, metric) + trade_header(trade) + table
    )
    feasible = [r for r in evaluated if trade is None or trade.feasible(r)]  # a trial that breaks a constraint is never best/
    best = confirmed_best(results) or (feasible[0] if feasible else None)
    best_dir = write_best(sweep_dir, cfg, best, results) if best else None
    top_dirs = write_top_k(sweep_dir, cfg, evaluated[:top_k], results) if top_k else []
    pareto_dirs = write_pareto(sweep_dir, cfg, [r for r in evaluated if r.trial_id in trade.front], results) if pareto and trade else []
    return ExportSummary(sweep_dir, table, best_dir, best, results.records, top_dirs, results.test_scores, results.confirmation,
                         trade, pareto_dirs)


def trade_header(trade: TradeOffs | None) -> str:
    """The leaderboard's line on the objectives and constraints, or nothing for a single-objective sweep."""
    if trade is None:
        return ""
    goals = ", ".join(f"`{g.metric}` ({g.mode})" for g in trade.objectives)
    limits = ", ".join(f"`{c}`" for c in trade.constraints)
    return ((f"Objectives: {goals}; {len(trade.front)} trials on the Pareto front (no other trial is at least as good in "
             "every objective and better in one). " if trade.multi_objective else "")
            + (f"Constraints: {limits}; a trial that breaks one is never on the front or `best/`." if limits else "") + "\n\n")


def write_pareto(sweep_dir: Path, cfg: dict[str, Any], front: list[TrialRecord], results: SweepResults) -> list[Path]:
    """``pareto/<n>-<trial>/``, one bundle per trial on the Pareto front (in rank order); an older ``pareto/`` is replaced."""
    folder = sweep_dir / PARETO_DIR
    if folder.exists():
        shutil.rmtree(folder)
    return [write_bundle(folder / top_bundle(n, r.trial_id), sweep_dir, cfg, r, rank=n, results=results)
            for n, r in enumerate(front, start=1)]


def confirmed_best(results: SweepResults) -> TrialRecord | None:
    """The trial whose values had the best mean over seeds in ``hpo confirm``, if it ran."""
    if results.confirmation is None or not results.confirmation.ranked:
        return None
    winner = results.confirmation.ranked[0].trial_id
    return next((r for r in results.evaluated if r.trial_id == winner), None)


def check_top_k(top_k: int, available: int, what: str) -> None:
    """``--top-k`` must name at least one and at most as many trials as the sweep has.

    Raises:
        ConfigError: naming ``--top-k``, the value and how many trials there are.
    """
    if top_k < 1 or top_k > available:
        raise ConfigError("--top-k", f"must be between 1 and {available}: the sweep has {available} {what}", value=top_k)


def write_best(sweep_dir: Path, cfg: dict[str, Any], best: TrialRecord, results: SweepResults | None = None) -> Path:
    """``best/``: the winner's bundle (see :func:`write_bundle`)."""
    return write_bundle(sweep_dir / BEST_DIR, sweep_dir, cfg, best, rank=1, results=results)


def write_top_k(sweep_dir: Path, cfg: dict[str, Any], ranked: list[TrialRecord], results: SweepResults | None = None) -> list[Path]:
    """``top/rank-<n>-<trial>/``, one bundle per trial in rank order; an older ``top/`` is replaced."""
    top = sweep_dir / TOP_DIR
    if top.exists():
        shutil.rmtree(top)
    return [write_bundle(top / top_bundle(n, r.trial_id), sweep_dir, cfg, r, rank=n, results=results)
            for n, r in enumerate(ranked, start=1)]


def write_bundle(
    target: Path, sweep_dir: Path, cfg: dict[str, Any], record: TrialRecord, rank: int, results: SweepResults | None = None,
) -> Path:
    """One exported trial: ``config.yaml`` (its full resolved config, a Hydra config ``hpo train``
    takes), ``model/`` (its best evaluation's checkpoint as a clean ``save_pretrained`` folder with a
    model card, without the optimizer and resume state, which stay with the trial), ``metrics.yaml``
    and ``manifest.json``; with LoRA and ``model.lora.export_merged`` also ``merged/``, the adapters
    folded into the base."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    metric = cfg["sweep"]["metric"]
    config = trial_config(cfg, record)
    header = (
        f"# {'Best trial' if rank == 1 else f'Rank {rank} trial'} {record.trial_id} of sweep {cfg['sweep']['name']} ({sweep_dir}).\n"
        f"# Best {metric} = {record.best[metric]} at epoch {record.best.get('epoch')}.\n"
        f"# Retrain it: hpo train --config {target / CONFIG_FILE}\n"
    )
    (target / CONFIG_FILE).write_text(header + yaml.safe_dump(config, sort_keys=False))
    summary = {"trial_id": record.trial_id, "params": record.params, "metrics": _plain(record.best)}
    test_scores = results.test_scores if results is not None else None
    confirmation = results.confirmation if results is not None else None
    confirmed = confirmation.of(record.trial_id) if confirmation is not None else None
    if confirmed is not None:  # its values retrained with several seeds (hpo confirm)
        summary["confirmation"] = {**asdict(confirmed), "seeds": confirmation.seeds}
    test = test_scores.of(record.trial_id) if test_scores is not None else None
    if test is not None:  # the same trial on rows that decided nothing in the sweep
        summary["test_metrics"] = test
        gap = trial_gap(record, metric, test_scores)
        summary["validation_test_gap"] = asdict(gap) if gap else None
    checkpoint = None
    if record.checkpoint is not None:
        checkpoint = target / EXPORT_MODEL_DIR
        shutil.copytree(record.checkpoint, checkpoint, ignore=shutil.ignore_patterns(TRAINING_STATE_FILE))
        # hpo's card replaces the one peft writes into an adapter folder: ours says how the model was chosen
        (checkpoint / MODEL_CARD_FILE).write_text(model_card(config, record, rank, results, test))
        summary["source_checkpoint"] = str(record.checkpoint)
        if is_adapter_checkpoint(checkpoint) and config["model"]["lora"]["export_merged"]:
            # torch, transformers and peft: only for a LoRA export that asks for the merged model
            from hpo.trainers.models.lora import merge_checkpoint

            summary["merged_model"] = str(merge_checkpoint(config["model"], config["trainer"]["seed"], checkpoint,
                                                           target / EXPORT_MERGED_DIR))
    (target / METRICS_YAML).write_text(yaml.safe_dump(summary, sort_keys=False))
    manifest = build_manifest(cfg, sweep_dir, config, record.trial_id, record.best, rank, checkpoint, record.checkpoint)
    manifest["test"] = {"metrics": test, "validation_test_gap": summary["validation_test_gap"]} if test is not None else None
    write_manifest(target, manifest)
    return target


REPORTED_KEYS = ("epoch", "step", "training_iteration", "time_total_s")


def _plain(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The evaluation's own metrics as YAML-safe scalars (pandas rows carry numpy types)."""
    out = {}
    for key, value in (metrics or {}).items():
        if "/" not in key and key not in REPORTED_KEYS:
            continue
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
    return out
