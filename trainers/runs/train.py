"""``hpo train``: one fine-tuning run from a config file, outside Ray, e.g. to retrain a sweep's winner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo.layout import TRAIN_BEST_FILE, TRAIN_CHECKPOINT_DIR, TRAIN_HISTORY_FILE
from hpo.ranking import is_better
from hpo.trainers.engine.checkpoint import Snapshot, save_checkpoint
from hpo.trainers.engine.reporting import FineTuneResult
from hpo.trainers.runs.fine_tune import fine_tune


def train(cfg: dict[str, Any], output_dir: str | Path) -> FineTuneResult:
    """Fine-tune once; keep the best evaluation's checkpoint in ``output_dir/checkpoint``.

    Every evaluation is appended to ``metrics.jsonl`` and the best is written to ``best.json``.
    The checkpoint holds no training state: it is for serving, not for resuming.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    metric, mode = cfg["sweep"]["metric"], cfg["sweep"]["mode"]
    best: dict[str, float | None] = {"value": None}
    history_file = output / TRAIN_HISTORY_FILE
    history_file.write_text("")

    def on_evaluation(metrics: dict[str, float], snapshot: Snapshot) -> None:
        with history_file.open("a") as f:
            f.write(json.dumps(metrics) + "\n")
        print(_format(metrics, metric), flush=True)
        if is_better(metrics[metric], best["value"], mode):
            best["value"] = metrics[metric]
            save_checkpoint(output / TRAIN_CHECKPOINT_DIR, snapshot, metrics, cfg, with_training_state=False)

    result = fine_tune(cfg, on_evaluation, num_threads=cfg["resources"]["num_cpus"])
    (output / TRAIN_BEST_FILE).write_text(json.dumps(result.best, indent=2))
    return result


def _format(metrics: dict[str, float], metric: str) -> str:
    """One progress line: the sweep's metric first, then the other evaluation metrics and the training loss."""
    keys = [metric, *(k for k in metrics if k.startswith("eval/") and k != metric), "train/loss"]
    shown = " ".join(f"{k}={metrics[k]:.4f}" for k in keys if k in metrics)
    return f"epoch {metrics['epoch']:.2f} step {int(metrics['step'])}: {shown}"
