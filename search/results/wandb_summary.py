"""One W&B run per sweep that sums it up: the leaderboard, the report's plots, the winner's config and model.

It is the last step at the end of a sweep (``hpo sweep``, ``resume``, ``extend``), after export and
the report: it logs the results, the export and the report those steps made, and reads nothing again.

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
from typing import TYPE_CHECKING, Any

from hpo.layout import CONFIG_FILE, EXPORT_MODEL_DIR, MANIFEST_FILE, METRICS_YAML, TRAINING_STATE_FILE
from hpo.search.config.logger import wandb_destination
from hpo.search.results.export import ExportSummary, leaderboard_rows, trial_gap
from hpo.search.results.manifest import read_manifest, wandb_run
from hpo.search.results.records import SweepResults
from hpo.search.results.test_scores import test_metric

if TYPE_CHECKING:
    from hpo.search.results.report import BuiltReport

JOB_TYPE = "sweep-summary"
SKIPPED_CHECKPOINT_FILES = (TRAINING_STATE_FILE,)  # optimizer state: for resuming trials, not for using the model


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


def summary_destination(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """Where the sweep's W&B runs go (project, entity, group, mode); None when there is no summary run
    to log: a sweep without the W&B logger, or with W&B disabled."""
    if cfg["logger"]["name"] != "wandb":
        return None
    dest = wandb_destination(cfg["logger"])
    return None if dest["mode"] == "disabled" else dest


def report_note(report: BuiltReport | None) -> str:
    """A sentence for the summary's ``report`` field: how many plots were logged from where, or why none."""
    if report is None:
        return "plots not logged: no report was built"
    if report.failure is not None:
        return f"plots not logged: the report failed ({report.failure})"
    plots = sum(1 for p in report.paths.values() if Path(p).suffix == ".png")
    return f"{plots} plots logged from {report.paths.get('html')}"


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


def log_sweep_summary(results: SweepResults, summary: ExportSummary, report: BuiltReport | None = None) -> SummaryRun | None:
    """Log the sweep-summary run of an exported sweep; None when the sweep has no W&B logger.

    Args:
        results: the sweep's results, as the end of the sweep read them.
        summary: what export wrote from them (the leaderboard, ``best/``).
        report: the report built from them, whose plots and page the run shows; None: no plots.

    Uses the sweep's project, entity and group (``WANDB_PROJECT``/``WANDB_ENTITY`` first) and
    mode (online with ``WANDB_API_KEY``, else offline). The API key is read by wandb from the
    environment and never passed to or written by this module.
    """
    sweep_dir, cfg, metric = results.sweep_dir, results.config, results.metric
    dest = summary_destination(cfg)
    if dest is None:
        return None
    # wandb: seconds to import, and only a sweep that logs to W&B needs it
    import wandb

    links = trial_run_links(cfg, sweep_dir, summary)
    note = report_note(report)
    run_id = summary_run_id(dest["group"], sweep_dir)
    config = {
        "sweep_dir": str(sweep_dir), "metric": metric, "mode": results.mode,
        "best_trial_id": summary.best.trial_id if summary.best else None,
        "trial_runs": links, "sweep_config": cfg,
    }
    with wandb.init(
        project=dest["project"], entity=dest["entity"], group=dest["group"], mode=dest["mode"], dir=str(sweep_dir),
        id=run_id, name=f"{dest['group']}-summary", job_type=JOB_TYPE, config=config,
        resume="allow" if dest["mode"] == "online" else None,
    ) as run:
        run.log({"leaderboard": leaderboard_table(summary, links, metric), **plot_media(report.paths if report else {})})
        if summary.best_dir is not None:
            log_best_artifacts(run, summary.best_dir, dest["group"])
        run.summary.update(summary_fields(summary, links, metric, note))
        path = None if dest["mode"] != "online" else "/".join(p for p in (run.entity, run.project, run.id) if p)
        local_dir = Path(run.dir).parent
    return SummaryRun(run_id, local_dir, path, note)


def summary_fields(summary: ExportSummary, links: list[dict[str, Any]], metric: str, note: str) -> dict[str, Any]:
    """The run summary: how many trials, the winner and its run, every trial run, and what the report logged."""
    best = summary.best
    fields = {
        "trials": len(summary.records),
        "best/trial_id": best.trial_id if best else None,
        f"best/{metric}": _scalar(best.best[metric]) if best else None,
        "best/run": next((link for link in links if best and link["trial_id"] == best.trial_id), None),
        "trial_runs": [link["path"] or link["local_dir"] or link["run_id"] for link in links],
        "report": note,
    }
    gap = trial_gap(best, metric, summary.test_scores) if best and summary.test_scores else None
    if gap is not None:  # the winner on the test rows, beside its validation figure
        fields.update({f"best/{test_metric(metric)}": gap.test, "best/validation_test_gap": gap.difference,
                       "best/validation_test_gap_large": gap.large})
    return fields


def leaderboard_table(summary: ExportSummary, links: list[dict[str, Any]], metric: str) -> Any:
    """The leaderboard rows as a ``wandb.Table``, with each trial's W&B run beside it."""
    import wandb  # only a sweep that logs to W&B gets here (see log_sweep_summary)

    rows = leaderboard_rows(summary.records, metric, summary.test_scores, summary.confirmation)
    for row, link in zip(rows, links, strict=True):
        row["wandb run"] = link["path"] or link["run_id"]
    columns = list(rows[0]) if rows else ["rank", "trial"]
    data = [[_scalar(row[c]) for c in columns] for row in rows]
    return wandb.Table(columns=columns, data=data, allow_mixed_types=True)


def plot_media(plots: dict[str, Path]) -> dict[str, Any]:
    """``report/<section>`` images, and the whole report as ``report/html``."""
    import wandb  # only a sweep that logs to W&B gets here (see log_sweep_summary)

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
    import wandb  # only a sweep that logs to W&B gets here (see log_sweep_summary)

    manifest = read_manifest(best_dir) if (best_dir / MANIFEST_FILE).is_file() else {}
    config = wandb.Artifact(artifact_name(group, "best-config"), type="config", metadata=manifest)
    for name in (CONFIG_FILE, METRICS_YAML, MANIFEST_FILE):
        if (best_dir / name).is_file():
            config.add_file(str(best_dir / name))
    run.log_artifact(config)
    checkpoint = best_dir / EXPORT_MODEL_DIR
    if checkpoint.is_dir():
        model = wandb.Artifact(artifact_name(group, "best-model"), type="model", metadata=manifest)
        for file in sorted(checkpoint.iterdir()):
            if file.is_file() and file.name not in SKIPPED_CHECKPOINT_FILES:
                model.add_file(str(file))
        run.log_artifact(model)


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
