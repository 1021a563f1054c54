"""Causal language modelling: next-token prediction on unlabelled text, scored by perplexity."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling, PreTrainedModel, PreTrainedTokenizerBase

from hpo.options import TASK_METRICS
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.data.text import load_text_splits, to_blocks
from hpo.trainers.models.modeling import build_model, check_positions, load_model_config
from hpo.trainers.tasks.base import AutocastFactory, Task, TaskData


class CausalLanguageModelTask(Task):
    """Next-token prediction on unlabelled text (GPT-2 family), evaluated by perplexity."""

    name: ClassVar[str] = "causal_lm"
    peft_task_type: ClassVar[str] = "CAUSAL_LM"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["causal_lm"]
    labels: ClassVar[str] = "none"

    def load_splits(self, data: dict[str, Any], seed: int, with_test: bool = False) -> LabelledSplits:
        """Splits with one ``text`` column (plain text, or a column of a labelled file)."""
        return load_text_splits(data, seed=seed, with_test=with_test)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """Equal blocks of ``trainer.max_seq_length`` tokens from the joined texts."""
        train_rows = to_blocks(splits.train, tokenizer, trainer["max_seq_length"])
        eval_rows = to_blocks(splits.eval, tokenizer, trainer["max_seq_length"])
        report = {**splits.report, "data/train_blocks": len(train_rows), "data/eval_blocks": len(eval_rows)}
        return TaskData(train_rows, eval_rows, [], report)

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        return build_model(model, AutoModelForCausalLM, trainer["dropout"])

    def check_model(self, model: dict[str, Any], label_names: list[str], trainer: dict[str, Any]) -> None:
        """The model's config (no labels: a language model's head is its vocabulary), and a block length
        the model's position embeddings cover."""
        check_positions(load_model_config(model, trainer["dropout"]), trainer["max_seq_length"])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        """Labels are the inputs (the model shifts them); blocks are equal, so padding never happens."""
        if tokenizer.pad_token is None:  # GPT-2's tokenizer has none; blocks are equal, so any id will do
            tokenizer.pad_token = tokenizer.eos_token
        return DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        return model(**batch).loss.float()

    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        # scikit-learn and evaluate: imported where a trial evaluates, not where the driver checks the data (get_task)
        from hpo.trainers.evaluation.evaluate import evaluate_language_model
        from hpo.trainers.evaluation.metrics import perplexity_scorer  # scikit-learn and evaluate, as above

        score = perplexity_scorer(trainer["metrics"])
        return evaluate_language_model(model, data.eval_rows, collate, trainer["eval_batch_size"], score, device, autocast)
