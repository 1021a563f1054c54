"""The blocks nested in a sweep config's groups: one feature's keys each, with their defaults.

Part of the schema (``hpo.search.config.schema`` composes them into its groups and re-exports
them): every default still lives in exactly one place, here for these blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoraSchema:
    """Low-rank adapters (peft's LoRA): the base stays frozen, only the adapters and the new head train."""

    enabled: bool = False
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: Any = "attention"  # peft's attention projections | all_linear (but the head) | [module names]
    quantize: str = "none"  # none | 4bit: QLoRA, the frozen base in 4-bit NF4 through bitsandbytes (GPUs only)
    export_merged: bool = False  # the export also writes the adapters merged into the base (a plain model folder)


@dataclass
class CleaningSchema:
    """Text normalisation, filters and deduplication of the training rows, and the leakage count.

    The ``data/clean`` config group names presets of these (``default``: as here; ``none``: every step off).
    """

    normalize: bool = True  # NFKC unicode, collapsed whitespace, stripped ends
    lowercase: bool = False
    strip_urls: bool = False
    strip_html: bool = False
    remove_stopwords: bool = False
    min_words: int | None = None
    max_words: int | None = None
    dedup: str = "none"  # none | exact | near (same words ignoring case and punctuation)
    drop_leaked: bool = False  # drop evaluation rows that also appear in the training rows


@dataclass
class ChatDataSchema:
    """How a row becomes a conversation (``trainer=chat``): messages, or a user turn and a reply from columns."""

    messages_column: str = "messages"  # a list of {role: system|user|assistant, content} per row
    prompt_columns: list[str] = field(default_factory=list)  # no messages column: joined (blank line) into the user turn
    response_column: str | None = None  # no messages column: the assistant's reply (e.g. response, answer)
    system_prompt: str | None = None  # a system turn put first in every conversation that has none


@dataclass
class ChatTrainerSchema:
    """Chat and instruction fine-tuning (``trainer=chat``): the template, and answers generated at each evaluation."""

    template: str | None = None  # null: the tokenizer's own chat template; chatml; or a Jinja template
    generate_samples: int = 16  # evaluation conversations whose last reply is generated and scored (0: none)
    max_new_tokens: int = 64
    packing: bool = False  # training conversations packed into full rows (trl's best-fit decreasing; none is cut)
    answer_pattern: str | None = None  # exact match on this regex's group (GSM8K: '####\s*(-?[0-9.,]+)'); null: all


@dataclass
class AugmentSchema:
    """Label-preserving augmentation of the training rows only (EDA: swap, delete, insert, synonym)."""

    ratio: float = 0.0  # augmented copies added per training row (0.5: half the rows get one); 0 = off
    ops: list[str] = field(default_factory=lambda: ["swap", "delete", "insert", "synonym"])
    word_fraction: float = 0.1  # share of a sentence's words each op changes (at least one)
    synonyms_path: str | None = None  # null: the bundled table; else a TSV of word<TAB>syn1,syn2,...


@dataclass
class DomainAdaptationSchema:
    """Continued masked-LM training of the encoder on unlabelled in-domain text, then fine-tuning the
    adapted encoder, as one two-stage trial."""

    enabled: bool = False
    text_path: str | None = None  # null: the task's training texts, labels ignored; else .txt (a text a line), .tsv/.csv/.jsonl/.parquet
    text_column: str = "text"  # the column of a .tsv/.csv/.jsonl/.parquet text_path
    max_texts: int | None = None  # the first N texts; null: all
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 16
    mlm_probability: float = 0.15
    max_seq_length: int = 128
    eval_fraction: float = 0.05  # texts held out to measure masked-LM perplexity before and after (adapt/perplexity_*)



@dataclass
class QuestionAnsweringSchema:
    """Extractive question answering (``trainer=question_answering``): long contexts and answer decoding."""

    doc_stride: int = 128  # tokens shared by consecutive windows of a context longer than max_seq_length
    max_answer_length: int = 30  # tokens
    n_best: int = 20  # start and end candidates per window
