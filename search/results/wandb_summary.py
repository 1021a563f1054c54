"""One W&B run per sweep that sums it up: the leaderboard, the report's plots, the winner's config and model.

The trial runs (one per trial, logged by Ray's W&B callback) show curves; comparing trials and
taking the winner away needs one place that holds the ranking and the result. This run has job
type ``sweep-summary`` and the trial runs' group, so W&B shows it beside them; its config lists
the trial runs (each trial run's config has its ``trial_id``), so each side links to the other.

Its id is derived from the sweep (group and folder), so ``hpo resume`` and ``hpo extend`` update
the same summary run online, with new artifact versions, instead of adding a second one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.layout import MANIFEST_FILE, load_sweep_config
from hpo.search.config.logger import wandb_destination
from hpo.search.results.export import ExportSummary, leaderboard_rows
from hpo.search.results.manifest import read_manifest, wandb_run

JOB_TYPE = "sweep-summary"
SKIPPED_CHECKPOINT_FILES = ("training_state.pt",)  # optimizer state: for resuming trials, not for using the model


@dataclass
class SummaryRun:
    """Where the summary run went and what it holds, for the CLI to print."""

    run_id: str
    local_dir: Path
    path: str | None  # entity/project/id when online
    report_note: str


def summary_run_id(group: str, sweep_dir: Path) -> str:
    """A W&B run id that is the same for every export of one sweep and differs between sweeps."""
    return "summary-" + hashlib.sha256(f"{group}|{sweep_dir}".encode()).hexdigest()[:16]


def artifact_name(group: str, what: str) -> str:
    """W&B artifact names allow letters, digits, ``-``, ``_`` and ``.``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{group}-{what}")


def report_plots(sweep_dir: Path) -> tuple[dict[str, Path], str]:
    """The report's PNGs and HTML by section name, and a sentence saying what was (not) logged.

    The report is optional for the summary: when ``hpo.search.results.report`` is missing or fails, the
    summary still logs the leaderboard and artifacts, and its ``report`` field says why no plots.
    """
    try:
        from hpo.search.results.report import build_report
    except ImportError as exc:
        return {}, f"plots not logged: the report module is not available ({exc})"
    try:
        paths = build_report(sweep_dir)
    except Exception as exc:  # a broken plot must not lose the leaderboard and the artifacts
        return {}, f"plots not logged: the report failed ({type(exc).__name__}: {exc})"
    plots = sum(1 for p in paths.values() if Path(p).suffix == ".png")
    return dict(paths), f"{plots} plots logged from {paths.get('html', sweep_dir / 'report')}"


def trial_run_links(cfg: dict[str, Any], sweep_dir: Path, summary: ExportSummary) -> list[dict[str, Any]]:
    """Each trial's W&B run (online path, or offline folder and id), in leaderboard order."""
    links = []
    for record in summary.records:
        run = wandb_run(cfg, sweep_dir, record.trial_id) or {}
        links.append({
            "trial_id": record.trial_id, "status": record.status, "run_id": run.get("run_id"),
            "path": run.get("path"), "local_dir": run.get("local_dir"),
        })
    return links


def log_sweep_summary(summary: ExportSummary) -> SummaryRun | None:
    """Log the sweep-summary run of an exported sweep; None when the sweep has no W&B logger.

    Uses the sweep's project, entity and group (``WANDB_PROJECT``/``WANDB_ENTITY`` first) and
    mode (online with ``WANDB_API_KEY``, else offline). The API key is read by wandb from the
    environment and never passed to or written by this module.
    """
    sweep_dir = summary.sweep_dir
    cfg = load_sweep_config(sweep_dir)
    if cfg["logger"]["name"] != "wandb":
        return None
    dest = wandb_destination(cfg["logger"])
    if dest["mode"] == "disabled":
        return None
    import wandb

    metric = cfg["sweep"]["metric"]
    links = trial_run_links(cfg, sweep_dir, summary)
    plots, note = report_plots(sweep_dir)
    run_id = summary_run_id(dest["group"], sweep_dir)
    config = {
        "sweep_dir": str(sweep_dir), "metric": metric, "mode": cfg["sweep"]["mode"],
        "best_trial_id": summary.best.trial_id if summary.best else None,
        "trial_runs": links, "sweep_config": cfg,
    }
    with wandb.init(
        project=dest["project"], entity=dest["entity"], group=dest["group"], mode=dest["mode"], dir=str(sweep_dir),
        id=run_id, name=f"{dest['group']}-summary", job_type=JOB_TYPE, config=config,
        resume="allow" if dest["mode"] == "online" else None,
    ) as run:
        run.log({"leaderboard": leaderboard_table(summary, links, metric), **plot_media(plots)})
        if summary.best_dir is not None:
            log_best_artifacts(run, summary.best_dir, dest["group"])
        best = summary.best
        run.summary.update({
            "trials": len(summary.records),
            "best/trial_id": best.trial_id if best else None,
            f"best/{metric}": _scalar(best.best[metric]) if best else None,
            "best/run": next((link for link in links if best and link["trial_id"] == best.trial_id), None),
            "trial_runs": [link["path"] or link["local_dir"] or link["run_id"] for link in links],
            "report": note,
        })
        path = None if dest["mode"] != "online" else "/".join(p for p in (run.entity, run.project, run.id) if p)
        local_dir = Path(run.dir).parent
    return SummaryRun(run_id, local_dir, path, note)


def leaderboard_table(summary: ExportSummary, links: list[dict[str, Any]], metric: str) -> Any:
    """The leaderboard rows as a ``wandb.Table``, with each trial's W&B run beside it."""
    import wandb

    rows = leaderboard_rows(summary.records, metric)
    for row, link in zip(rows, links, strict=True):
        row["wandb run"] = link["path"] or link["run_id"]
    columns = list(rows[0]) if rows else ["rank", "trial"]
    data = [[_scalar(row[c]) for c in columns] for row in rows]
    return wandb.Table(columns=columns, data=data, allow_mixed_types=True)


def plot_media(plots: dict[str, Path]) -> dict[str, Any]:
    """``report/<section>`` images, and the whole report as ``report/html``."""
    import wandb

    media: dict[str, Any] = {}
    for name, path in plots.items():
        path = Path(path)
        if path.suffix == ".png":
            media[f"report/{name}"] = wandb.Image(str(path), caption=name)
        elif path.suffix == ".html":
            media["report/html"] = wandb.Html(path.read_text())
    return media


def log_best_artifacts(run: Any, best_dir: Path, group: str) -> None:
    """The winner's config (``config``: config.yaml, metrics.yaml, manifest.json) and its best
    checkpoint (``model``: the ``from_pretrained`` folder, without optimizer state)."""
    import wandb

    manifest = read_manifest(best_dir) if (best_dir / MANIFEST_FILE).is_file() else {}
    config = wandb.Artifact(artifact_name(group, "best-config"), type="config", metadata=manifest)
    for name in ("config.yaml", "metrics.yaml", MANIFEST_FILE):
        if (best_dir / name).is_file():
            config.add_file(str(best_dir / name))
    run.log_artifact(config)
    checkpoint = best_dir / "checkpoint"
    if checkpoint.is_dir():
        model = wandb.Artifact(artifact_name(group, "best-model"), type="model", metadata=manifest)
        for file in sorted(checkpoint.iterdir()):
            if file.is_file() and file.name not in SKIPPED_CHECKPOINT_FILES:
                model.add_file(str(file))
        run.log_artifact(model)


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
