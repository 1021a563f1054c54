"""The interface every fine-tuning task implements, and the tokenised rows it hands the loop.

A task loads its data, turns it into tokenised rows, builds the model with the right head,
computes the training loss and evaluates. The engine (``hpo.trainers.engine``) owns everything
else: the optimizer, precision, accumulation, checkpoints and reporting. So a new task is one
small module beside this one (a :class:`Task` subclass), one entry in
:mod:`hpo.trainers.tasks.registry` and one YAML in ``hydra_conf/trainer/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import torch
from transformers import DataCollatorWithPadding, PreTrainedModel, PreTrainedTokenizerBase

from hpo.trainers.data.augmentation import augment_dataset
from hpo.trainers.data.loading import LabelledSplits, load_splits
from hpo.trainers.models.lora import add_lora, reproducible_base
from hpo.trainers.models.modeling import check_positions, load_model_config

# What the engine passes to evaluate: ``torch.autocast`` bound to the precision, or a null context for fp32.
AutocastFactory = Callable[[], AbstractContextManager[Any]]


@dataclass
class TaskData:
    """Tokenised rows ready for the loader, and what the loop reports about them."""

    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    label_names: list[str]
    report: dict[str, float] = field(default_factory=dict)
    loss_weights: torch.Tensor | None = None
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: the training targets' mean and std


class Task(ABC):
    """A labelled text task: the shared loading, augmentation, tokenisation and model check.

    Subclasses say what the labels are (:attr:`labels`), which head the model gets, how the
    loss is computed and how an evaluation is scored; unlabelled tasks override loading too.
    """

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    # peft's task type for model.lora: SEQ_CLS (and QUESTION_ANS) keep the new head trainable and in the adapter checkpoint
    peft_task_type: ClassVar[str]
    # The label kind ``load_splits`` reads ("classes", "numeric"), or "none" for unlabelled text;
    # cross-validation stratifies its folds only by classes.
    labels: ClassVar[str] = "classes"

    def load_splits(self, data: dict[str, Any], seed: int, with_test: bool = False) -> LabelledSplits:
        """The train and evaluation splits of ``data`` (the ``data`` config block), and its test split
        with ``with_test`` (only for scoring finished checkpoints, never in a trial)."""
        return load_splits(data, seed=seed, labels=self.labels, with_test=with_test)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """Augment the training rows (never the evaluation rows) and tokenise both splits."""
        train, report = splits.train, dict(splits.report)
        if trainer["augment"]["ratio"]:
            train, counts = augment_dataset(train, trainer["augment"], seed=trainer["seed"])
            report.update(counts)
        train_rows = tokenize(train, tokenizer, trainer["max_seq_length"])
        eval_rows = tokenize(splits.eval, tokenizer, trainer["max_seq_length"])
        return TaskData(train_rows, eval_rows, splits.label_names, report)

    def check_model(self, model: dict[str, Any], label_names: list[str], trainer: dict[str, Any]) -> None:
        """Load only the model's config, so a bad model name fails on the driver before any trial, and check
        that its position embeddings cover ``trainer.max_seq_length`` (the largest the search allows)."""
        config = load_model_config(model, trainer["dropout"], num_labels=max(1, len(label_names)))
        check_positions(config, trainer["max_seq_length"])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        """Pads each batch to its longest row: the loop groups batches by length, so little padding is paid."""
        return DataCollatorWithPadding(tokenizer)

    def build(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        """The model a run trains and test scoring rebuilds: this task's, with LoRA adapters when ``model.lora.enabled``."""
        with reproducible_base(model, trainer["seed"]):
            base = self.build_model(model, data, trainer)
        return add_lora(base, model["lora"], self.peft_task_type)

    @abstractmethod
    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        """The model with this task's head, from the ``model`` config block."""

    @abstractmethod
    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        """The training loss of one batch (in fp32, whatever the autocast precision)."""

    @abstractmethod
    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        """``eval/...`` metrics and the per-example record saved with the checkpoint (or None)."""


def tokenize(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[dict[str, Any]]:
    """Tokenised rows (lists of ids, unpadded): padding happens per batch in the collator.

    The fast tokenizer takes the whole column at once, not through ``Dataset.map``: the rows become
    plain lists here anyway, and ``map`` would pickle the tokenizer to fingerprint a cache that an
    in-memory dataset never writes (over a second per trial, half its start-up on a tiny model).
    """
    rows = dataset.to_dict()
    encoded = tokenizer(rows["text"], rows.get("text_pair"), truncation=True, max_length=max_length)
    columns = list(encoded.keys())
    return [
        {"labels": label, **dict(zip(columns, values, strict=True))}
        for label, *values in zip(rows["label"], *(encoded[c] for c in columns), strict=True)
    ]
