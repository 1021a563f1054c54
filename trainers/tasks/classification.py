"""Sentence (or sentence-pair) classification: the default task."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hpo.options import TASK_METRICS
from hpo.trainers.data.imbalance import class_weights, resample
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.models.modeling import build_classifier
from hpo.trainers.tasks.base import AutocastFactory, Task, TaskData


class ClassificationTask(Task):
    """One label out of the data's classes, learnt with (optionally weighted, smoothed) cross-entropy."""

    name: ClassVar[str] = "classification"
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["classification"]
    labels: ClassVar[str] = "classes"

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """The shared tokenised rows, then rebalanced: resampled rows or class weights for the loss."""
        data = super().prepare(splits, tokenizer, trainer)
        data.train_rows = resample(data.train_rows, trainer["resample"], seed=trainer["seed"])
        data.loss_weights = class_weights(data.train_rows, trainer["class_weights"], splits.num_labels)
        return data

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        return build_classifier(model, data.label_names, trainer["dropout"])

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        labels = batch.pop("labels")
        logits = model(**batch).logits
        weights = data.loss_weights.to(logits.device) if data.loss_weights is not None else None
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weights, label_smoothing=trainer["label_smoothing"])

    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        # scikit-learn and evaluate: imported where a trial evaluates, not where the driver checks the data (get_task)
        from hpo.trainers.evaluation.evaluate import evaluate_rows
        from hpo.trainers.evaluation.metrics import classification_scorer  # scikit-learn and evaluate, as above

        score = classification_scorer(trainer["metrics"], len(data.label_names), trainer["average"])
        return evaluate_rows(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, data.label_names, autocast)
