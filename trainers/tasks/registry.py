"""What differs between fine-tuning tasks, behind one small interface the training loop calls.

A task loads its data, turns it into tokenised rows, builds the model with the right head,
computes the training loss and evaluates. The loop (``hpo.trainers.engine.loop``) owns everything else:
the optimizer, precision, accumulation, checkpoints and reporting. Adding a task is one class
here and one entry in :data:`TASKS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import torch
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from hpo.errors import ConfigError
from hpo.options import TASK_METRICS
from hpo.trainers.data.imbalance import class_weights, resample
from hpo.trainers.data.loading import LabelledSplits, load_splits
from hpo.trainers.models.modeling import build_classifier, build_model, load_model_config

# Evaluation (hpo.trainers.evaluation.evaluate, hpo.trainers.evaluation.metrics) imports scikit-learn and evaluate: it is
# imported where a trial evaluates, not where the driver checks the data and the model.


@dataclass
class TaskData:
    """Tokenised rows ready for the loader, and what the loop reports about them."""

    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    label_names: list[str]
    report: dict[str, float] = field(default_factory=dict)
    loss_weights: torch.Tensor | None = None
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: the training targets' mean and std


class Task:
    """Sentence (or pair) classification: the default task, and the base of the others."""

    name: ClassVar[str] = "classification"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["classification"]
    labels: ClassVar[str] = "classes"

    def load_splits(self, data: dict[str, Any], seed: int) -> LabelledSplits:
        return load_splits(data, seed=seed, labels=self.labels)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """Augment the training rows (never the evaluation rows), tokenise, rebalance."""
        train, report = splits.train, dict(splits.report)
        augment = trainer.get("augment") or {}
        if augment.get("ratio"):
            from hpo.trainers.data.augmentation import augment_dataset

            train, counts = augment_dataset(train, augment, seed=trainer["seed"])
            report.update(counts)
        train_rows = tokenize(train, tokenizer, trainer["max_seq_length"])
        eval_rows = tokenize(splits.eval, tokenizer, trainer["max_seq_length"])
        train_rows = resample(train_rows, trainer.get("resample", "none"), seed=trainer["seed"])
        weights = class_weights(train_rows, trainer.get("class_weights", "none"), splits.num_labels)
        return TaskData(train_rows, eval_rows, splits.label_names, report, weights)

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        return build_classifier(model, data.label_names, trainer.get("dropout"))

    def check_model(self, model: dict[str, Any], label_names: list[str], trainer: dict[str, Any]) -> None:
        """Load only the model's config, so a bad model name fails on the driver before any trial."""
        load_model_config(model, trainer.get("dropout"), num_labels=max(1, len(label_names)))

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return DataCollatorWithPadding(tokenizer)

    def loss(self, model: PreTrainedModel, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        labels = batch.pop("labels")
        logits = model(**batch).logits
        weights = data.loss_weights.to(logits.device) if data.loss_weights is not None else None
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weights, label_smoothing=trainer.get("label_smoothing", 0.0))

    def evaluate(self, model, data: TaskData, collate, trainer: dict[str, Any], device, autocast) -> tuple[dict[str, float], Any]:
        from hpo.trainers.evaluation.evaluate import evaluate_rows
        from hpo.trainers.evaluation.metrics import classification_scorer

        score = classification_scorer(trainer["metrics"], len(data.label_names), trainer.get("average", "auto"))
        return evaluate_rows(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, data.label_names, autocast)


class RegressionTask(Task):
    """A numeric label predicted by one output unit with a mean-squared-error loss.

    The head learns standardised targets (training mean 0, standard deviation 1): a new head
    starts near 0, and targets such as 1-5 star ratings would otherwise spend the first epochs
    learning their mean. Predictions and metrics are in the data's own units; the mean and
    standard deviation are saved in the model's config (``hpo_target_mean``/``hpo_target_std``)
    for serving.
    """

    name: ClassVar[str] = "regression"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["regression"]
    labels: ClassVar[str] = "numeric"

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        data = super().prepare(splits, tokenizer, trainer)
        targets = torch.tensor([float(r["labels"]) for r in data.train_rows])
        std = float(targets.std()) if len(targets) > 1 else 1.0
        data.target_scale = (float(targets.mean()), std if std > 0 else 1.0)
        return data

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        built = build_classifier(model, data.label_names, trainer.get("dropout"), problem_type="regression")
        built.config.hpo_target_mean, built.config.hpo_target_std = data.target_scale
        return built

    def loss(self, model: PreTrainedModel, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        mean, std = data.target_scale
        labels = (batch.pop("labels").float() - mean) / std
        return torch.nn.functional.mse_loss(model(**batch).logits.float().squeeze(-1), labels)

    def evaluate(self, model, data: TaskData, collate, trainer: dict[str, Any], device, autocast) -> tuple[dict[str, float], Any]:
        from hpo.trainers.evaluation.evaluate import evaluate_regression
        from hpo.trainers.evaluation.metrics import regression_scorer

        score = regression_scorer(trainer["metrics"])
        return evaluate_regression(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, autocast, data.target_scale)


class CausalLanguageModelTask(Task):
    """Next-token prediction on unlabelled text (GPT-2 family), evaluated by perplexity."""

    name: ClassVar[str] = "causal_lm"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["causal_lm"]

    def load_splits(self, data: dict[str, Any], seed: int) -> LabelledSplits:
        from hpo.trainers.data.text import load_text_splits

        return load_text_splits(data, seed=seed)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """Equal blocks of ``trainer.max_seq_length`` tokens from the joined texts."""
        from hpo.trainers.data.text import to_blocks

        train_rows = to_blocks(splits.train, tokenizer, trainer["max_seq_length"])
        eval_rows = to_blocks(splits.eval, tokenizer, trainer["max_seq_length"])
        report = {**splits.report, "data/train_blocks": len(train_rows), "data/eval_blocks": len(eval_rows)}
        return TaskData(train_rows, eval_rows, [], report)

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        return build_model(model, AutoModelForCausalLM, trainer.get("dropout"))

    def check_model(self, model: dict[str, Any], label_names: list[str], trainer: dict[str, Any]) -> None:
        config = load_model_config(model, trainer.get("dropout"))
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        if positions and trainer["max_seq_length"] > positions:
            raise ConfigError("trainer.max_seq_length", f"the model sees at most {positions} positions", value=trainer["max_seq_length"])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        if tokenizer.pad_token is None:  # GPT-2's tokenizer has none; blocks are equal, so any id will do
            tokenizer.pad_token = tokenizer.eos_token
        return DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def loss(self, model: PreTrainedModel, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        return model(**batch).loss.float()

    def evaluate(self, model, data: TaskData, collate, trainer: dict[str, Any], device, autocast) -> tuple[dict[str, float], Any]:
        from hpo.trainers.evaluation.evaluate import evaluate_language_model
        from hpo.trainers.evaluation.metrics import perplexity_scorer

        score = perplexity_scorer(trainer["metrics"])
        return evaluate_language_model(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, autocast)


TASKS: dict[str, type[Task]] = {task.name: task for task in (Task, RegressionTask, CausalLanguageModelTask)}


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        ConfigError: an unknown name, listing the registered ones.
    """
    if name not in TASKS:
        raise ConfigError("trainer.task", "unknown task", value=name, choices=list(TASKS))
    return TASKS[name]()


def tokenize(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[dict[str, Any]]:
    """Tokenised rows (lists of ids, unpadded): padding happens per batch in the collator."""
    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], batch.get("text_pair"), truncation=True, max_length=max_length)

    columns = [c for c in dataset.column_names if c != "label"]
    encoded = dataset.map(encode, batched=True, remove_columns=columns).rename_column("label", "labels")
    return encoded.to_list()
