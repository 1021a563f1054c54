"""Top-k ensembles from the probabilities each trial saved with its best checkpoint.

Every checkpoint keeps its evaluation's per-example class probabilities
(``eval_predictions.json``), so averaging the k best trials needs no model to be loaded or run
again: the ensemble is scored on the same evaluation rows, with the sweep's own metrics, and
set against the best single model scored the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import log_loss

from hpo.errors import ConfigError
from hpo.layout import ENSEMBLE_JSON, ENSEMBLE_MD, PREDICTIONS_FILE
from hpo.search.results.export import check_top_k, markdown_table
from hpo.search.results.records import SweepResults, as_results
from hpo.trainers.evaluation.evaluate import load_predictions
from hpo.trainers.evaluation.metrics import classification_scorer


@dataclass
class Member:
    """One trial of the ensemble: its id, its best evaluation's value and checkpoint."""

    trial_id: str
    value: float
    checkpoint: str


@dataclass
class EnsembleResult:
    """The ensemble's and the best single model's metrics on the same evaluation rows."""

    metric: str
    mode: str
    members: list[Member]
    ensemble: dict[str, float]
    best_single: dict[str, float]
    examples: int

    def gain(self) -> float:
        """How much the ensemble beats the best single model on the sweep's metric (positive: better)."""
        sign = 1.0 if self.mode == "max" else -1.0
        return sign * (self.ensemble[self.metric] - self.best_single[self.metric])


def average_probabilities(records: list[dict[str, Any]], names: list[str]) -> np.ndarray:
    """The mean of the members' class probabilities, example by example.

    Raises:
        ConfigError: members evaluated on different examples or label sets (their averages would
            mix unrelated rows), naming the first trial that differs.
    """
    first = records[0]
    for name, record in zip(names[1:], records[1:], strict=True):
        for key in ("label_names", "references"):
            if record[key] != first[key]:
                raise ConfigError(
                    "--top-k",
                    f"trial {name} was evaluated on different {key.replace('_', ' ')} than trial {names[0]}: "
                    "an ensemble needs every member scored on the same evaluation rows",
                )
    return np.mean([np.asarray(r["probabilities"], dtype=np.float64) for r in records], axis=0)


def score_probabilities(
    probabilities: np.ndarray, references: list[int], cfg: dict[str, Any]
) -> dict[str, float]:
    """The sweep's configured metrics (``eval/<name>``) and ``eval/loss``, the cross-entropy of the
    class probabilities (what a trial reports as its evaluation loss)."""
    num_labels = probabilities.shape[1]
    scorer = classification_scorer(cfg["trainer"]["metrics"], num_labels, cfg["trainer"].get("average", "auto"))
    predictions = probabilities.argmax(axis=1).tolist()
    metrics = {f"eval/{k}": float(v) for k, v in scorer(predictions, references, probabilities.tolist()).items()}
    # Saved probabilities are float32 softmaxes: renormalise so sklearn's sum-to-one check holds.
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    metrics["eval/loss"] = float(log_loss(references, normalised, labels=list(range(num_labels))))
    return metrics


def ensemble_checkpoints(checkpoints: list[Path], names: list[str], cfg: dict[str, Any]) -> dict[str, float]:
    """Average the probabilities saved in ``checkpoints`` and score them with the sweep's metrics."""
    records = [load_predictions(c) for c in checkpoints]
    probabilities = average_probabilities(records, names)
    return score_probabilities(probabilities, records[0]["references"], cfg)


def ensemble(source: SweepResults | str | Path, top_k: int) -> EnsembleResult:
    """Ensemble the ``top_k`` trials ranked by their best evaluation.

    Args:
        source: the sweep's results, or a sweep folder to read.
        top_k: how many of the best trials to average.

    Raises:
        ConfigError: not a sweep folder, not a classification sweep, ``top_k`` out of range for the
            trials that kept a checkpoint with predictions, or members evaluated on different rows.
    """
    results = as_results(source)
    cfg, metric, mode = results.config, results.metric, results.mode
    task = cfg["trainer"].get("task", "classification")
    if task != "classification":
        raise ConfigError("trainer.task", "an ensemble averages class probabilities, which only classification saves", value=task)
    ranked = [r for r in results.evaluated if r.checkpoint is not None and (r.checkpoint / PREDICTIONS_FILE).is_file()]
    check_top_k(top_k, len(ranked), "trials with a saved best checkpoint and predictions")
    chosen = ranked[:top_k]
    names = [r.trial_id for r in chosen]
    checkpoints = [r.checkpoint for r in chosen]
    members = [Member(r.trial_id, float(r.best[metric]), str(r.checkpoint)) for r in chosen]
    best_single = ensemble_checkpoints(checkpoints[:1], names[:1], cfg)
    if metric not in best_single:
        raise ConfigError(
            "sweep.metric", "an ensemble is scored only on metrics computed from class probabilities",
            value=metric, choices=sorted(best_single),
        )
    metrics = ensemble_checkpoints(checkpoints, names, cfg)
    examples = len(load_predictions(checkpoints[0])["references"])
    return EnsembleResult(metric, mode, members, metrics, best_single, examples)


def write_ensemble(sweep_dir: str | Path, result: EnsembleResult) -> tuple[Path, Path]:
    """``ensemble.json`` and ``ensemble.md`` in the sweep folder."""
    sweep_dir = Path(sweep_dir)
    data = {**asdict(result), "gain": result.gain()}
    json_path = sweep_dir / ENSEMBLE_JSON
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path = sweep_dir / ENSEMBLE_MD
    md_path.write_text(markdown_report(result))
    return json_path, md_path


def markdown_report(result: EnsembleResult) -> str:
    """The ensemble against the best single model, one row per metric, then the members."""
    rows = [
        {"metric": key, f"ensemble of {len(result.members)}": result.ensemble[key], "best single": result.best_single[key],
         "difference": result.ensemble[key] - result.best_single[key]}
        for key in result.ensemble
    ]
    members = [{"rank": n, "trial": m.trial_id, f"best {result.metric}": m.value, "checkpoint": m.checkpoint}
               for n, m in enumerate(result.members, start=1)]
    verdict = "beats" if result.gain() > 0 else "does not beat"
    return (
        f"# Top-{len(result.members)} ensemble\n\n"
        f"Mean class probabilities of the {len(result.members)} best trials (by best `{result.metric}`, "
        f"{result.mode}) on the {result.examples} evaluation rows. The ensemble {verdict} the best single model "
        f"on `{result.metric}` ({result.ensemble[result.metric]:.4f} vs {result.best_single[result.metric]:.4f}).\n\n"
        f"{markdown_table(rows)}\n## Members\n\n{markdown_table(members)}"
    )
