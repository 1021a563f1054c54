"""Chat and instruction fine-tuning of a decoder: the loss on the assistant's tokens, replies generated and scored.

Each evaluation reports the loss and perplexity on the evaluation conversations' assistant tokens,
then generates the last reply of up to ``trainer.chat.generate_samples`` of them (greedy, at most
``max_new_tokens``) and scores it against the reference: ``exact_match`` of the extracted final
answer (``trainer.chat.answer_pattern``, e.g. GSM8K's ``#### <number>``) and ``rouge_l``. The
samples are saved with the checkpoint (``eval_generations.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase

from hpo.errors import ConfigError
from hpo.layout import GENERATIONS_FILE
from hpo.options import TASK_METRICS
from hpo.trainers.data.chat import (
    IGNORED,
    encode_conversation,
    load_chat_splits,
    pack_conversations,
    render,
    set_chat_template,
)
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.models.modeling import load_tokenizer
from hpo.trainers.tasks.base import AutocastFactory, TaskData
from hpo.trainers.tasks.causal_lm import CausalLanguageModelTask


@dataclass
class ChatData(TaskData):
    """The tokenised conversations, and the prompts whose replies each evaluation generates."""

    tokenizer: PreTrainedTokenizerBase | None = None
    prompts: list[list[int]] = field(default_factory=list)  # token ids up to the assistant's last turn
    references: list[str] = field(default_factory=list)  # that turn's text
    end_of_turn: list[int] = field(default_factory=list)  # the template's end-of-turn tokens: a reply ends there


@dataclass
class Generations:
    """One evaluation's generated replies, saved with its checkpoint."""

    rows: list[dict[str, str]]

    def save(self, directory: str | Path) -> None:
        (Path(directory) / GENERATIONS_FILE).write_text(json.dumps(self.rows, indent=2))


class ChatTask(CausalLanguageModelTask):
    """Supervised fine-tuning on conversations (messages, or instruction and response columns)."""

    name: ClassVar[str] = "chat"
    metrics: ClassVar[tuple[str, ...]] = TASK_METRICS["chat"]

    def load_splits(self, data: dict[str, Any], seed: int, with_test: bool = False) -> LabelledSplits:
        return load_chat_splits(data, seed=seed, with_test=with_test)

    def prepare(self, splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, trainer: dict[str, Any]) -> TaskData:
        """Conversations tokenised with assistant-only labels; those truncated to no assistant token are dropped."""
        set_chat_template(tokenizer, trainer["chat"]["template"])
        max_length = trainer["max_seq_length"]
        train = [encode_conversation(tokenizer, m, max_length) for m in splits.train["messages"]]
        evaluation = [encode_conversation(tokenizer, m, max_length) for m in splits.eval["messages"]]
        kept_train, kept_eval = [r for r in train if _learns(r)], [r for r in evaluation if _learns(r)]
        if not kept_train or not kept_eval:
            raise ConfigError("trainer.max_seq_length", f"no {'training' if not kept_train else 'evaluation'} conversation "
                              "keeps an assistant token within it: raise it", value=max_length)
        report = {**splits.report, "data/train_truncated_away": len(train) - len(kept_train),
                  "data/eval_truncated_away": len(evaluation) - len(kept_eval)}
        if trainer["chat"]["packing"]:
            kept_train = pack_conversations(kept_train, max_length)
            report["data/train_packed_rows"] = len(kept_train)
        samples = [m for m in splits.eval["messages"] if m[-1]["role"] == "assistant"][: trainer["chat"]["generate_samples"]]
        probe = "\u2063probe\u2063"  # a reply no template writes itself: what follows it ends a turn
        marker = render(tokenizer, [{"role": "assistant", "content": probe}]).split(probe, 1)[-1].strip()
        room = max(1, max_length - trainer["chat"]["max_new_tokens"])
        return ChatData(
            kept_train, kept_eval, [], report, tokenizer=tokenizer,
            # the prompt's last tokens, leaving room for the reply within the sequence length
            prompts=[tokenizer(render(tokenizer, m[:-1], prompt=True), add_special_tokens=False)["input_ids"][-room:]
                     for m in samples],
            references=[m[-1]["content"] for m in samples],
            end_of_turn=tokenizer(marker, add_special_tokens=False)["input_ids"] if marker else [],
        )

    def check_model(self, model: dict[str, Any], label_names: list[str], trainer: dict[str, Any]) -> None:
        """The causal LM's checks, and a chat template the tokenizer can use, before any trial."""
        super().check_model(model, label_names, trainer)
        set_chat_template(load_tokenizer(model), trainer["chat"]["template"])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        """Pads ids, masks and labels (with -100) to each batch's longest conversation."""
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORED)

        def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
            positions = [row["position_ids"] for row in rows] if rows and "position_ids" in rows[0] else None
            batch = pad([{k: v for k, v in row.items() if k != "position_ids"} for row in rows])  # the rows stay as they are
            if positions is not None:  # packed rows: each conversation's positions restart at 0
                width = batch["input_ids"].shape[1]
                batch["position_ids"] = torch.tensor([p + [0] * (width - len(p)) for p in positions])
            return batch

        return collate

    def evaluate(
        self, model: PreTrainedModel, data: TaskData, collate: Any, trainer: dict[str, Any], device: torch.device,
        autocast: AutocastFactory,
    ) -> tuple[dict[str, float], Any]:
        # scikit-learn, evaluate and rouge_score: imported where a trial evaluates, not where the driver checks the data
        from hpo.trainers.evaluation.evaluate import evaluate_language_model
        from hpo.trainers.evaluation.metrics import generation_scorer, perplexity_scorer  # as above

        metrics, _ = evaluate_language_model(model, data.eval_rows, collate, trainer["eval_batch_size"],
                                             perplexity_scorer(trainer["metrics"]), device, autocast)
        assert isinstance(data, ChatData)
        if not data.prompts:
            return metrics, None
        replies = generate_replies(model, data, trainer["chat"]["max_new_tokens"], device, autocast)
        pattern = trainer["chat"]["answer_pattern"]
        score = generation_scorer(trainer["metrics"])
        if "exact_match" in trainer["metrics"]:
            metrics["eval/exact_match"] = score([final_answer(r, pattern) for r in replies],
                                                [final_answer(r, pattern) for r in data.references])["exact_match"]
        if "rouge_l" in trainer["metrics"]:
            metrics["eval/rouge_l"] = score(replies, data.references)["rouge_l"]
        prompts = [data.tokenizer.decode(p) for p in data.prompts]
        return metrics, Generations([{"prompt": p, "reference": r, "reply": g}
                                     for p, r, g in zip(prompts, data.references, replies, strict=True)])


def _learns(row: dict[str, list[int]]) -> bool:
    return any(label != IGNORED for label in row["labels"])


@torch.no_grad()
def generate_replies(model: PreTrainedModel, data: ChatData, max_new_tokens: int, device: torch.device,
                     autocast: AutocastFactory) -> list[str]:
    """Greedy replies to the prompts, one at a time (no padding to get wrong), each cut at its end of turn."""
    model.eval()
    tokenizer, replies = data.tokenizer, []
    for prompt in data.prompts:
        ids = torch.tensor([prompt], device=device)
        with autocast():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = out[0, len(prompt):].tolist()
        replies.append(tokenizer.decode(_until(new, data.end_of_turn), skip_special_tokens=True).strip())
    return replies


def _until(ids: list[int], marker: list[int]) -> list[int]:
    """``ids`` up to the first occurrence of ``marker``."""
    for i in range(len(ids) - len(marker) + 1) if marker else ():
        if ids[i:i + len(marker)] == marker:
            return ids[:i]
    return ids


def final_answer(text: str, pattern: str | None) -> str:
    """The first group of ``pattern`` in ``text`` (the last match, where a reply restates it), else the text; stripped."""
    if pattern is None:
        return text.strip()
    matches = [m.group(1) if m.groups() else m.group(0) for m in re.finditer(pattern, text)]
    return matches[-1].strip() if matches else ""
