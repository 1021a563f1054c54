"""The names a config may choose from, kept free of torch, transformers and datasets imports.

The driver checks every config before Ray starts (``hpo.search.config.checks``); importing the modules that
implement these options would cost it seconds of torch and transformers imports on every
``hpo`` command. Each implementing module takes its names from here, so there is one list.
"""

from __future__ import annotations

from typing import Any

# hpo.trainers.tasks.registry: the metrics each task can report (the evaluate modules in metric_modules/).
CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall", "matthews_correlation", "roc_auc")
REGRESSION_METRICS = ("mse", "mae", "pearsonr", "spearmanr")
LANGUAGE_MODEL_METRICS = ("perplexity",)
CHAT_METRICS = ("perplexity", "exact_match", "rouge_l")  # perplexity on assistant tokens; the others on generated replies
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
    "causal_lm": LANGUAGE_MODEL_METRICS,
    "chat": CHAT_METRICS,
    "question_answering": ("exact_match", "f1"),  # SQuAD 2.0's, answers normalised
}
# hpo.trainers.data.chat: the formats conversations come in, and trainer.chat.template by name, for base models whose tokenizer has none.
CHAT_TEMPLATES = {
    "chatml": (
        r"{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
        r"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
}
# Always reported besides the configured metrics, so the sweep may also rank by them or trade them off
# (sweep.objectives, sweep.constraints): the cost ones are measured at each evaluation of every trial.
COST_METRICS = ("latency_ms", "params_m", "peak_memory_mb")  # ms per evaluation row, parameters (millions), peak MB
BUILTIN_METRICS = ("loss", *COST_METRICS)
AVERAGES = ("auto", "binary", "macro", "micro", "weighted")

# hpo.trainers.data.loading: file formats and the datasets builder (with its options) that reads each.
FILE_FORMATS = {"tsv": ("csv", {"delimiter": "\t"}), "csv": ("csv", {}), "jsonl": ("json", {}), "parquet": ("parquet", {})}
# Plain text: one row per paragraph (blank-line separated), for language modelling; it has no labels.
TEXT_FORMAT = {"text": ("text", {"sample_by": "paragraph"})}
FORMATS = ("demo", *FILE_FORMATS, *TEXT_FORMAT, "hub", "squad")
# hpo.trainers.data.text: what a causal language model can read (no Hub loading for text yet).
LM_FORMATS = (*TEXT_FORMAT, *FILE_FORMATS, "demo")
# The data keys that name a test split (at most one is set): a file, a Hub split, a held-out share.
TEST_SOURCES = ("test_path", "test_split", "test_fraction")


def has_test_split(data: dict[str, Any]) -> bool:
    """Whether the ``data`` block names a test split (the driver's check loads it; the end of a sweep scores on it)."""
    return any(data[key] is not None for key in TEST_SOURCES)

CHAT_FORMATS = ("jsonl", "parquet", "csv", "tsv")
# hpo.trainers.data.qa: flat rows (SQuAD 2.0's Hub layout), or SQuAD's own nested JSON file.
QA_FORMATS = ("jsonl", "parquet", "squad")

# hpo.trainers.data.cleaning, hpo.trainers.data.imbalance, hpo.trainers.data.augmentation,
# hpo.trainers.models.modeling, hpo.trainers.engine.engine (precision), hpo.trainers.engine.faults
DEDUP = ("none", "exact", "near")
RESAMPLING = ("none", "oversample", "undersample")
CLASS_WEIGHTS = ("none", "balanced")
INITS = ("pretrained", "random")
FREEZE_CHOICES = ("none", "embeddings", "all_but_head")
# hpo.trainers.models.lora: model.lora.target_modules by name (else a list of module names), and model.lora.quantize.
LORA_TARGETS = ("attention", "all_linear")
LORA_QUANTIZE = ("none", "4bit")
PRECISIONS = ("fp32", "bf16", "fp16")
FAULTS = ("exception", "nan", "oom")
AUGMENT_OPS = ("swap", "delete", "insert", "synonym")
# What Population Based Training may change in a running trial (scheduler.perturb), and so what a
# replayed schedule (trainer.pbt_schedule) changes mid-run: values the optimizer, the schedule and
# the dropout layers take at any step. Batch size, epochs or the model cannot change mid-run.
PBT_PERTURBABLE = ("trainer.learning_rate", "trainer.weight_decay", "trainer.dropout", "trainer.warmup_ratio")
