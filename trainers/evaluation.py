"""Evaluating a model on the evaluation rows, and the per-example record kept with each checkpoint.

Besides the metrics, each evaluation keeps every example's class probabilities, the per-class
report and the confusion matrix: reports draw curves from them and ensembles average them
without running the models again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import classification_report, confusion_matrix

from trainers.metrics import Scorer

PREDICTIONS_FILE = "eval_predictions.json"
REPORT_FILE = "eval_report.json"


@dataclass
class EvalOutput:
    """Per-example results of one evaluation, in the evaluation data's order."""

    label_names: list[str]
    references: list[int]
    predictions: list[int]
    probabilities: list[list[float]]

    def save(self, directory: str | Path) -> None:
        """``eval_predictions.json`` (labels, references, probabilities) and ``eval_report.json``
        (per-class precision/recall/F1/support and the confusion matrix, rows = true labels)."""
        directory = Path(directory)
        labels = list(range(len(self.label_names)))
        (directory / PREDICTIONS_FILE).write_text(json.dumps({
            "label_names": self.label_names, "references": self.references,
            "predictions": self.predictions, "probabilities": self.probabilities,
        }))
        report = classification_report(
            self.references, self.predictions, labels=labels, target_names=self.label_names, output_dict=True, zero_division=0
        )
        matrix = confusion_matrix(self.references, self.predictions, labels=labels).tolist()
        (directory / REPORT_FILE).write_text(json.dumps({"per_class": report, "confusion_matrix": matrix, "labels": self.label_names}, indent=1))


def load_predictions(directory: str | Path) -> dict[str, Any]:
    """The per-example record saved beside a checkpoint."""
    return json.loads((Path(directory) / PREDICTIONS_FILE).read_text())


@torch.no_grad()
def evaluate_rows(model, rows, collate, batch_size: int, score: Scorer, device, label_names: list[str]) -> tuple[dict[str, float], EvalOutput]:
    """Loss, metrics and per-example probabilities, batched by length to pad as little as possible."""
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    probabilities: list[list[float]] = [[] for _ in rows]
    loss_total = 0.0
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate([rows[i] for i in index]).items()}
        out = model(**batch)
        loss_total += out.loss.item() * len(index)
        for i, p in zip(index, out.logits.float().softmax(-1).tolist(), strict=True):
            probabilities[i] = p
    references = [r["labels"] for r in rows]
    predictions = [max(range(len(p)), key=p.__getitem__) for p in probabilities]
    metrics = {f"eval/{k}": v for k, v in score(predictions, references, probabilities).items()}
    metrics["eval/loss"] = loss_total / len(rows)
    return metrics, EvalOutput(label_names, references, predictions, probabilities)
