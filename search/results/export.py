"""Results of a finished sweep: the leaderboard and the best (or top-k) trials' config, checkpoint and manifest.

The trials come ranked by their best evaluation (``hpo.search.results.records``), and the exported
checkpoint is the one saved at that best evaluation, not the last.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError
from hpo.layout import (
    BEST_DIR,
    CONFIG_FILE,
    EXPORT_CHECKPOINT_DIR,
    LEADERBOARD_CSV,
    LEADERBOARD_MD,
    METRICS_YAML,
    TOP_DIR,
    top_bundle,
)
from hpo.params import apply_params
from hpo.search.results.budget_record import budget_summary, read_budget_record
from hpo.search.results.manifest import build_manifest, write_manifest
from hpo.search.results.pbt_schedule import read_schedule
from hpo.search.results.records import SweepResults, TrialRecord, as_results


def leaderboard_rows(records: list[TrialRecord], metric: str) -> list[dict[str, Any]]:
    """Flat rows for the CSV and Markdown leaderboards."""
    param_keys = sorted({k for r in records for k in r.params})
    metric_keys = sorted({k for r in records if r.best for k in r.best if k.startswith("eval/") and k != metric})
    rows = []
    for rank, r in enumerate(records, start=1):
        row: dict[str, Any] = {"rank": rank, "trial": r.trial_id, "status": r.status}
        row[f"best {metric}"] = r.best.get(metric) if r.best else None
        row["best epoch"] = r.best.get("epoch") if r.best else None
        row["evaluations"] = r.evaluations
        for key in metric_keys:
            row[key] = r.best.get(key) if r.best else None
        for key in param_keys:
            row[key] = r.params.get(key)
        row["error"] = r.error or ""
        rows.append(row)
    return rows


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


def export(source: SweepResults | str | Path, top_k: int | None = None) -> ExportSummary:
    """Write the leaderboard (CSV, Markdown), ``best/`` (config.yaml, checkpoint/, metrics.yaml,
    manifest.json) and, with ``top_k``, ``top/rank-<n>-<trial>/`` for the k best trials.

    Args:
        source: the sweep's results as the end of a sweep read them, or a sweep folder to read.
        top_k: also write a bundle for each of the k best trials.

    Raises:
        ConfigError: not a sweep folder, or ``top_k`` below 1 or above the number of trials with an evaluation.
    """
    results = as_results(source)
    sweep_dir, cfg, metric = results.sweep_dir, results.config, results.metric
    evaluated = results.evaluated
    if top_k is not None:
        check_top_k(top_k, len(evaluated), "trials with an evaluation")
    rows = leaderboard_rows(results.records, metric)
    with (sweep_dir / LEADERBOARD_CSV).open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    table = markdown_table(rows)
    budget = budget_summary(read_budget_record(sweep_dir))
    (sweep_dir / LEADERBOARD_MD).write_text(
        f"# Leaderboard: {cfg['sweep']['name']}\n\nRanked by each trial's best `{metric}` ({results.mode}).\n\n"
        + (f"{budget}\n\n" if budget else "") + table
    )
    best = evaluated[0] if evaluated else None
    best_dir = write_best(sweep_dir, cfg, best) if best else None
    top_dirs = write_top_k(sweep_dir, cfg, evaluated[:top_k]) if top_k else []
    return ExportSummary(sweep_dir, table, best_dir, best, results.records, top_dirs)


def check_top_k(top_k: int, available: int, what: str) -> None:
    """``--top-k`` must name at least one and at most as many trials as the sweep has.

    Raises:
        ConfigError: naming ``--top-k``, the value and how many trials there are.
    """
    if top_k < 1 or top_k > available:
        raise ConfigError("--top-k", f"must be between 1 and {available}: the sweep has {available} {what}", value=top_k)


def write_best(sweep_dir: Path, cfg: dict[str, Any], best: TrialRecord) -> Path:
    """``best/``: the winner's bundle (see :func:`write_bundle`)."""
    return write_bundle(sweep_dir / BEST_DIR, sweep_dir, cfg, best, rank=1)


def write_top_k(sweep_dir: Path, cfg: dict[str, Any], ranked: list[TrialRecord]) -> list[Path]:
    """``top/rank-<n>-<trial>/``, one bundle per trial in rank order; an older ``top/`` is replaced."""
    top = sweep_dir / TOP_DIR
    if top.exists():
        shutil.rmtree(top)
    return [write_bundle(top / top_bundle(n, r.trial_id), sweep_dir, cfg, r, rank=n) for n, r in enumerate(ranked, start=1)]


def write_bundle(target: Path, sweep_dir: Path, cfg: dict[str, Any], record: TrialRecord, rank: int) -> Path:
    """One exported trial: ``config.yaml`` (its full resolved config, a Hydra config ``hpo train``
    takes), ``checkpoint/`` (its best evaluation's), ``metrics.yaml`` and ``manifest.json``."""
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
    checkpoint = None
    if record.checkpoint is not None:
        checkpoint = target / EXPORT_CHECKPOINT_DIR
        shutil.copytree(record.checkpoint, checkpoint)
        summary["source_checkpoint"] = str(record.checkpoint)
    (target / METRICS_YAML).write_text(yaml.safe_dump(summary, sort_keys=False))
    write_manifest(target, build_manifest(cfg, sweep_dir, config, record.trial_id, record.best, rank, checkpoint, record.checkpoint))
    return target


def trial_config(cfg: dict[str, Any], record: TrialRecord) -> dict[str, Any]:
    """The full config that retrains a trial: the sweep's with the trial's values. A PBT trial's
    values changed as it ran; its config holds the values its lineage started with and the
    changes as ``trainer.pbt_schedule``, which ``hpo train`` replays."""
    schedule = read_schedule(record.path.parent, record.trial_id) if record.path is not None else None
    if schedule is None:
        return apply_params(cfg, record.params)
    initial, changes = schedule
    config = apply_params(cfg, initial)
    config["trainer"]["pbt_schedule"] = changes
    return config


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
