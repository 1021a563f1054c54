"""``hpo evaluate``: a trained model scored on a data file, as the sweep scored its trials.

The file is read with the model's own data settings (columns, label mapping against its training
rows, cleaning, sequence length) as the sweep's test split would be, and evaluated by the task's own
evaluation, so given the sweep's validation rows it reproduces the sweep's validation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import logging as hf_logging

from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.runs.test_split import evaluate_checkpoint
from hpo.trainers.tasks.registry import get_task


@dataclass
class FileEvaluation:
    """The ``eval/...`` metrics on the file's rows, and how many rows were scored."""

    metrics: dict[str, float]
    rows: int


def evaluate_file(config: dict[str, Any], model_dir: Path, out_dir: Path) -> FileEvaluation:
    """Score the model in ``model_dir`` on ``config``'s ``data.test_path`` and save the per-example
    record (predictions, per-class report, answers or generations) into ``out_dir``.

    Raises:
        ConfigError: the file is missing or malformed, its columns or labels are not the model's.
    """
    hf_logging.set_verbosity_error()
    task = get_task(config["trainer"]["task"])
    splits = task.load_splits(config["data"], seed=config["sweep"]["seed"], with_test=True)
    metrics, record = evaluate_checkpoint(task, LabelledSplits(splits.train, splits.test, splits.label_names), config, model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if record is not None:
        record.save(out_dir)
    return FileEvaluation({k: float(v) for k, v in metrics.items()}, len(splits.test))
