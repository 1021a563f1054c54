"""Extractive question answering (SQuAD 2.0): a start and an end logit per token, answers decoded from the best span.

For each question the best span over its windows is the highest start + end logit with the end
not before the start, at most ``trainer.qa.max_answer_length`` tokens, inside the context; the
question is predicted unanswerable (the empty answer) when the first token's score (start + end
logit at [CLS]) beats it, as in the SQuAD 2.0 baselines. Scored by exact match and F1 (the
shipped ``squad_v2`` module, which also reports them for answerable and unanswerable questions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import (
    AutoModelForQuestionAnswering,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from hpo.layout import ANSWERS_FILE
from hpo.options import TASK_METRICS
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.data.qa import labelled_windows, load_qa_splits
from hpo.trainers.models.modeling import build_model
from hpo.trainers.tasks.base import AutocastFactory, Task, TaskData


@dataclass
class QuestionAnsweringData(TaskData):
    """The windows, and what maps an evaluation window's tokens back to its question's context."""

    questions: list[dict[str, Any]] = field(default_factory=list)  # id, context, answers of each evaluation question
    window_question: list[int] = field(default_factory=list)
    window_offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)


@dataclass
class Answers:
    """One evaluation's predicted answer per question id, saved with its checkpoint."""

    by_id: dict[str, str]

    def save(self, directory: str | Path) -> None:
        (Path(directory) / ANSWERS_FILE).write_text(json.dumps(self.by_id, indent=2))


class QuestionAnsweringTask(Task):
    """SQuAD-style extractive question answering with unanswerable questions."""

    name: ClassVar[str] = "question_answering"
    peft_task_type: ClassVar[str] = "QUESTION_ANS"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["question_answering"]
    labels: ClassVar[str] = "none"

    def load_splits(self, data: dict[str, Any], seed: int, with_test: bool = False) -> LabelledSplits:
        return load_qa_splits(data, seed=seed, with_test=with_test)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        max_length, stride = trainer["max_seq_length"], trainer["qa"]["doc_stride"]
        train, _, _ = labelled_windows(splits.train, tokenizer, max_length, stride)
        windows, window_question, offsets = labelled_windows(splits.eval, tokenizer, max_length, stride)
        report = {**splits.report, "data/train_windows": len(train), "data/eval_windows": len(windows)}
        questions = [{"id": r["id"], "context": r["context"], "answers": r["answers"]} for r in splits.eval]
        return QuestionAnsweringData(train, windows, [], report, questions=questions, window_question=window_question,
                                     window_offsets=offsets)

    def build_model(self, model: dict[str, Any], data: TaskData, trainer: dict[str, Any]) -> PreTrainedModel:
        return build_model(model, AutoModelForQuestionAnswering, trainer["dropout"])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return DataCollatorWithPadding(tokenizer)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], trainer: dict[str, Any], data: TaskData) -> torch.Tensor:
        return model(**batch).loss.float()

    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        # scikit-learn and evaluate: imported where a trial evaluates, not where the driver checks the data (get_task)
        from hpo.trainers.evaluation.evaluate import length_sorted_batches
        from hpo.trainers.evaluation.metrics import load_metric  # evaluate, as above

        assert isinstance(data, QuestionAnsweringData)
        model.eval()
        starts: list[list[float]] = [[] for _ in data.eval_rows]
        ends: list[list[float]] = [[] for _ in data.eval_rows]
        loss_total = 0.0
        with torch.no_grad():
            for index, batch in length_sorted_batches(data.eval_rows, collate, trainer["eval_batch_size"], device):
                with autocast():
                    out = model(**batch)
                loss_total += out.loss.item() * len(index)
                for i, s, e in zip(index, out.start_logits.float().tolist(), out.end_logits.float().tolist(), strict=True):
                    length = len(data.window_offsets[i])  # the window's own tokens, not the batch's padding
                    starts[i], ends[i] = s[:length], e[:length]
        predicted = decode_answers(data, starts, ends, trainer["qa"]["n_best"], trainer["qa"]["max_answer_length"])
        scores = load_metric("squad_v2").compute(
            predictions=[{"id": q["id"], "prediction_text": predicted[q["id"]]} for q in data.questions],
            references=[{"id": q["id"], "answers": q["answers"]} for q in data.questions])
        # the configured metrics, and the breakdown into answerable and unanswerable questions
        metrics = {f"eval/{k}": v for k, v in scores.items() if k in trainer["metrics"] or k.startswith(("has_", "no_"))}
        return {**metrics, "eval/loss": loss_total / len(data.eval_rows)}, Answers(predicted)


def decode_answers(data: QuestionAnsweringData, starts: list[list[float]], ends: list[list[float]], n_best: int,
                   max_answer_length: int) -> dict[str, str]:
    """Each question's answer text: its best span over its windows, or "" where [CLS] scores higher."""
    best: dict[int, tuple[float, str]] = {}
    null: dict[int, float] = {}
    for window, (start_logits, end_logits) in enumerate(zip(starts, ends, strict=True)):
        question, offsets = data.window_question[window], data.window_offsets[window]
        null[question] = min(null.get(question, float("inf")), start_logits[0] + end_logits[0])
        top_starts = sorted(range(len(start_logits)), key=start_logits.__getitem__, reverse=True)[:n_best]
        top_ends = sorted(range(len(end_logits)), key=end_logits.__getitem__, reverse=True)[:n_best]
        for s in top_starts:
            for e in top_ends:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = start_logits[s] + end_logits[e]
                if score > best.get(question, (float("-inf"), ""))[0]:
                    best[question] = (score, data.questions[question]["context"][offsets[s][0]:offsets[e][1]])
    return {q["id"]: best[i][1] if i in best and best[i][0] > null[i] else "" for i, q in enumerate(data.questions)}
