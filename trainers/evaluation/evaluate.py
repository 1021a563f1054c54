"""Evaluating a model on the evaluation rows, and the per-example record kept with each checkpoint.

Besides the metrics, each evaluation keeps every example's class probabilities, the per-class
report and the confusion matrix: reports draw curves from them and ensembles average them
without running the models again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import classification_report, confusion_matrix

from hpo.layout import EVAL_REPORT_FILE, PREDICTIONS_FILE
from hpo.trainers.evaluation.metrics import Scorer

Rows = list[dict[str, Any]]  # tokenised rows, unpadded
Collate = Callable[[Rows], dict[str, torch.Tensor]]  # pads a list of rows into a batch
Autocast = Callable[[], AbstractContextManager[Any]]  # torch.autocast at the run's precision, or a null context


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
        (directory / EVAL_REPORT_FILE).write_text(json.dumps({"per_class": report, "confusion_matrix": matrix, "labels": self.label_names}, indent=1))


def load_predictions(directory: str | Path) -> dict[str, Any]:
    """The per-example record saved beside a checkpoint."""
    return json.loads((Path(directory) / PREDICTIONS_FILE).read_text())


@dataclass
class RegressionEvalOutput:
    """Per-example predicted values of one regression evaluation, in the evaluation data's order."""

    references: list[float]
    predictions: list[float]

    def save(self, directory: str | Path) -> None:
        """``eval_predictions.json`` (references, predictions) and ``eval_report.json`` (residual summary)."""
        directory = Path(directory)
        residuals = [p - r for p, r in zip(self.predictions, self.references, strict=True)]
        (directory / PREDICTIONS_FILE).write_text(json.dumps({"references": self.references, "predictions": self.predictions}))
        (directory / EVAL_REPORT_FILE).write_text(json.dumps({
            "residuals": {"mean": sum(residuals) / len(residuals), "max_abs": max(map(abs, residuals))},
            "count": len(residuals),
        }, indent=1))


def length_sorted_batches(
    rows: Rows, collate: Collate, batch_size: int, device: torch.device | str,
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """``(row indices, batch on the device)``, batched by length to pad as little as possible."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield index, {k: v.to(device) for k, v in collate([rows[i] for i in index]).items()}


@torch.no_grad()
def evaluate_regression(
    model: torch.nn.Module, rows: Rows, collate: Collate, batch_size: int, score: Scorer, device: torch.device | str,
    autocast: Autocast = contextlib.nullcontext, scale: tuple[float, float] = (0.0, 1.0),
) -> tuple[dict[str, float], RegressionEvalOutput]:
    """Metrics and each example's predicted value, in the targets' units (the head predicts
    ``(target - mean) / std`` for ``scale = (mean, std)``); the loss is the MSE in those units."""
    model.eval()
    mean, std = scale
    predictions: list[float] = [0.0] * len(rows)
    for index, batch in length_sorted_batches(rows, collate, batch_size, device):
        batch.pop("labels")
        with autocast():
            out = model(**batch)
        for i, value in zip(index, (out.logits.float().squeeze(-1) * std + mean).tolist(), strict=True):
            predictions[i] = value
    references = [float(r["labels"]) for r in rows]
    metrics = {f"eval/{k}": v for k, v in score(predictions, references, []).items()}
    metrics["eval/loss"] = sum((p - r) ** 2 for p, r in zip(predictions, references, strict=True)) / len(rows)
    return metrics, RegressionEvalOutput(references, predictions)


@torch.no_grad()
def evaluate_language_model(
    model: torch.nn.Module, rows: Rows, collate: Collate, batch_size: int, score: Scorer, device: torch.device | str,
    autocast: Autocast = contextlib.nullcontext,
) -> tuple[dict[str, float], None]:
    """Mean token loss and perplexity over every predicted token of the evaluation blocks."""
    model.eval()
    nll, tokens = [], []
    for _, batch in length_sorted_batches(rows, collate, batch_size, device):
        with autocast():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        labels = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
        )
        mask = labels != -100
        nll.extend((losses * mask).sum(1).tolist())
        tokens.extend(mask.sum(1).tolist())
    metrics = {f"eval/{k}": v for k, v in score(nll, tokens, []).items()}
    metrics["eval/loss"] = sum(nll) / max(1, sum(tokens))
    return metrics, None


@torch.no_grad()
def evaluate_rows(
    model: torch.nn.Module, rows: Rows, collate: Collate, batch_size: int, score: Scorer, device: torch.device | str,
    label_names: list[str], autocast: Autocast = contextlib.nullcontext,
) -> tuple[dict[str, float], EvalOutput]:
    """Loss, metrics and per-example class probabilities."""
    model.eval()
    probabilities: list[list[float]] = [[] for _ in rows]
    loss_total = 0.0
    for index, batch in length_sorted_batches(rows, collate, batch_size, device):
        with autocast():
            out = model(**batch)
        loss_total += out.loss.item() * len(index)
        for i, p in zip(index, out.logits.float().softmax(-1).tolist(), strict=True):
            probabilities[i] = p
    references = [r["labels"] for r in rows]
    predictions = [max(range(len(p)), key=p.__getitem__) for p in probabilities]
    metrics = {f"eval/{k}": v for k, v in score(predictions, references, probabilities).items()}
    metrics["eval/loss"] = loss_total / len(rows)
    return metrics, EvalOutput(label_names, references, predictions, probabilities)
