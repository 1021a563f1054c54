"""Regression: a numeric label predicted by one output unit."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hpo.options import TASK_METRICS
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.models.modeling import build_classifier
from hpo.trainers.tasks.base import AutocastFactory, Task, TaskData


class RegressionTask(Task):
    """A numeric label predicted by one output unit with a mean-squared-error loss.

    The head learns standardised targets (training mean 0, standard deviation 1): a new head
    starts near 0, and targets such as 1-5 star ratings would otherwise spend the first epochs
    learning their mean. Predictions and metrics are in the data's own units; the mean and
    standard deviation are saved in the model's config (``hpo_target_mean``/``hpo_target_std``)
    for serving.
    """

    name: ClassVar[str] = "regression"
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["regression"]
    labels: ClassVar[str] = "numeric"

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """The shared tokenised rows and the training targets' mean and standard deviation."""
        data = super().prepare(splits, tokenizer, trainer)
        targets = torch.tensor([float(r["labels"]) for r in data.train_rows])
        std = float(targets.std()) if len(targets) > 1 else 1.0
        data.target_scale = (float(targets.mean()), std if std > 0 else 1.0)
        return data

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        built = build_classifier(model, data.label_names, trainer["dropout"], problem_type="regression")
        built.config.hpo_target_mean, built.config.hpo_target_std = data.target_scale
        return built

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        mean, std = data.target_scale
        labels = (batch.pop("labels").float() - mean) / std
        return torch.nn.functional.mse_loss(model(**batch).logits.float().squeeze(-1), labels)

    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        # scikit-learn and evaluate: imported where a trial evaluates, not where the driver checks the data (get_task)
        from hpo.trainers.evaluation.evaluate import evaluate_regression
        from hpo.trainers.evaluation.metrics import regression_scorer  # scikit-learn and evaluate, as above

        score = regression_scorer(trainer["metrics"])
        return evaluate_regression(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, autocast, data.target_scale)
