"""Results of a finished sweep: the leaderboard and the best (or top-k) trials' config, checkpoint and manifest.

Trials are ranked by their best evaluation, not their last (ASHA and over-fitting both make the
last one misleading), and the exported checkpoint is the one saved at that best evaluation.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError
from hpo.layout import (
    BEST_DIR,
    LEADERBOARD_CSV,
    LEADERBOARD_MD,
    TOP_DIR,
    TRIALS_DIR,
    experiment_dirs,
    load_sweep_config,
)
from hpo.params import apply_params
from hpo.search.results.manifest import build_manifest, write_manifest
from hpo.trial_status import error_summary, outcome


@dataclass
class TrialRecord:
    """One trial as the leaderboard shows it."""

    trial_id: str
    status: str  # finished | stopped | failed
    params: dict[str, Any]
    evaluations: int
    best: dict[str, Any] | None = None
    checkpoint: Path | None = None
    error: str | None = None
    path: Path | None = None


def collect_trials(sweep_dir: str | Path, metric: str, mode: str) -> list[TrialRecord]:
    """Read every trial of a sweep folder with Ray Tune's own result reader."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    dirs = experiment_dirs(sweep_dir)
    if not dirs:
        raise ConfigError("sweep_dir", f"no trial results in {Path(sweep_dir) / TRIALS_DIR}", value=str(sweep_dir))
    pairs = []
    for directory in dirs:
        analysis = ExperimentAnalysis(str(directory), default_metric=metric, default_mode=mode)
        pairs += zip(analysis.trials, ResultGrid(analysis), strict=True)
    records = []
    for trial, result in pairs:
        history = result.metrics_dataframe
        evaluations = 0 if history is None or metric not in history else int(history[metric].notna().sum())
        best, checkpoint = _best_evaluation(result, metric, mode)
        status = outcome("ERROR" if result.error else trial.status, result.metrics)
        records.append(
            TrialRecord(
                trial_id=str(result.metrics.get("trial_id") or Path(result.path).name),
                status=status,
                params=dict(result.config or _params_file(result.path)),
                evaluations=evaluations,
                best=best,
                checkpoint=checkpoint,
                error=error_summary(result.error) if result.error else None,
                path=Path(result.path),
            )
        )
    return rank_trials(records, metric, mode)



def evaluated_history(sweep_dir: str | Path) -> list[tuple[dict[str, Any], float]]:
    """``(params, best value)`` of every trial that evaluated: what ``hpo extend`` warm-starts the searcher with."""
    cfg = load_sweep_config(sweep_dir)
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    return [(r.params, r.best[metric]) for r in collect_trials(sweep_dir, metric, mode) if r.best is not None]

def _best_evaluation(result: Any, metric: str, mode: str) -> tuple[dict[str, Any] | None, Path | None]:
    """The best evaluation's metrics and, when Ray kept it, its checkpoint folder."""
    kept = [(m, c) for c, m in (result.best_checkpoints or []) if _finite(m.get(metric))]
    if kept:
        metrics, checkpoint = (max if mode == "max" else min)(kept, key=lambda mc: mc[0][metric])
        return dict(metrics), Path(checkpoint.path)
    history = result.metrics_dataframe
    if history is None or metric not in history or history[metric].notna().sum() == 0:
        return None, None
    index = history[metric].idxmax() if mode == "max" else history[metric].idxmin()
    return history.loc[index].to_dict(), None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _params_file(trial_path: str) -> dict[str, Any]:
    """The sampled values Ray wrote at trial start; a trial that failed before reporting has no other copy."""
    path = Path(trial_path) / "params.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def rank_trials(records: list[TrialRecord], metric: str, mode: str) -> list[TrialRecord]:
    """Best first by each trial's best evaluation; trials with no evaluation last."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(records, key=lambda r: (r.best is None, sign * r.best[metric] if r.best else 0.0, r.trial_id))


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


def export(sweep_dir: str | Path, top_k: int | None = None) -> ExportSummary:
    """Write the leaderboard (CSV, Markdown), ``best/`` (config.yaml, checkpoint/, metrics.yaml,
    manifest.json) and, with ``top_k``, ``top/rank-<n>-<trial>/`` for the k best trials.

    Raises:
        ConfigError: ``top_k`` below 1 or above the number of trials with an evaluation.
    """
    sweep_dir = Path(sweep_dir).resolve()
    cfg = load_sweep_config(sweep_dir)
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    records = collect_trials(sweep_dir, metric, mode)
    evaluated = [r for r in records if r.best is not None]
    if top_k is not None:
        check_top_k(top_k, len(evaluated), "trials with an evaluation")
    rows = leaderboard_rows(records, metric)
    with (sweep_dir / LEADERBOARD_CSV).open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    table = markdown_table(rows)
    (sweep_dir / LEADERBOARD_MD).write_text(f"# Leaderboard: {cfg['sweep']['name']}\n\nRanked by each trial's best `{metric}` ({mode}).\n\n{table}")
    best = evaluated[0] if evaluated else None
    best_dir = write_best(sweep_dir, cfg, best) if best else None
    top_dirs = write_top_k(sweep_dir, cfg, evaluated[:top_k]) if top_k else []
    return ExportSummary(sweep_dir, table, best_dir, best, records, top_dirs)


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
    return [write_bundle(top / f"rank-{n}-{r.trial_id}", sweep_dir, cfg, r, rank=n) for n, r in enumerate(ranked, start=1)]


def write_bundle(target: Path, sweep_dir: Path, cfg: dict[str, Any], record: TrialRecord, rank: int) -> Path:
    """One exported trial: ``config.yaml`` (its full resolved config, a Hydra config ``hpo train``
    takes), ``checkpoint/`` (its best evaluation's), ``metrics.yaml`` and ``manifest.json``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    metric = cfg["sweep"]["metric"]
    config = apply_params(cfg, record.params)
    header = (
        f"# {'Best trial' if rank == 1 else f'Rank {rank} trial'} {record.trial_id} of sweep {cfg['sweep']['name']} ({sweep_dir}).\n"
        f"# Best {metric} = {record.best[metric]} at epoch {record.best.get('epoch')}.\n"
        f"# Retrain it: hpo train --config {target / 'config.yaml'}\n"
    )
    (target / "config.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    summary = {"trial_id": record.trial_id, "params": record.params, "metrics": _plain(record.best)}
    checkpoint = None
    if record.checkpoint is not None:
        checkpoint = target / "checkpoint"
        shutil.copytree(record.checkpoint, checkpoint)
        summary["source_checkpoint"] = str(record.checkpoint)
    (target / "metrics.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))
    write_manifest(target, build_manifest(cfg, sweep_dir, config, record.trial_id, record.best, rank, checkpoint, record.checkpoint))
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
