"""Scoring trained checkpoints on the test split: rows that no trial trained on, was ranked on or was stopped on.

The driver calls this after a sweep for its top trials (``hpo.search.results.test_scoring``). Each
checkpoint is scored with its own trial's config (its sequence length, its task settings), on the
test rows of ``data.test_path``, ``data.test_split`` or the ``data.test_fraction`` held out of the
training rows, through the same task evaluation the trials ran on their validation rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import logging as hf_logging

from hpo.errors import ConfigError
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.engine.engine import precision_context
from hpo.trainers.models.lora import load_weights, place, weights_file
from hpo.trainers.models.modeling import load_tokenizer
from hpo.trainers.tasks.registry import get_task

EVAL_PREFIX, TEST_PREFIX = "eval/", "test/"


@dataclass
class CheckpointToScore:
    """One trial's checkpoint with the full config it was trained with."""

    trial_id: str
    config: dict[str, Any]
    checkpoint: Path


@dataclass
class SplitScores:
    """``test/...`` metrics per trial, and the row counts of both splits (the gap check needs them)."""

    validation_rows: int
    test_rows: int
    trials: dict[str, dict[str, float]]


def score_on_test(cfg: dict[str, Any], chosen: list[CheckpointToScore]) -> SplitScores:
    """Each checkpoint's metrics on the test rows, named ``test/<metric>``.

    Raises:
        ConfigError: the test data is missing or malformed, or a checkpoint has no weights.
    """
    hf_logging.set_verbosity_error()
    task = get_task(cfg["trainer"]["task"])
    splits = task.load_splits(cfg["data"], seed=cfg["sweep"]["seed"], with_test=True)
    if splits.test is None:
        raise ConfigError("data.test_path", "no test split configured: set data.test_path, data.test_split or data.test_fraction")
    on_test = LabelledSplits(splits.train, splits.test, splits.label_names)
    scores = {c.trial_id: _score(task, on_test, c) for c in chosen}
    return SplitScores(len(splits.eval), len(splits.test), scores)


def _score(task: Any, splits: LabelledSplits, chosen: CheckpointToScore) -> dict[str, float]:
    """One checkpoint on the test rows, its metrics named ``test/<metric>``."""
    metrics, _ = evaluate_checkpoint(task, splits, chosen.config, chosen.checkpoint)
    return {TEST_PREFIX + key.removeprefix(EVAL_PREFIX): float(value) for key, value in metrics.items() if key.startswith(EVAL_PREFIX)}


def evaluate_checkpoint(task: Any, splits: LabelledSplits, config: dict[str, Any], checkpoint: Path) -> tuple[dict[str, float], Any]:
    """A checkpoint (a trial's, or an exported ``model/``) on ``splits.eval``: the model built as its trial
    built it, then its trained weights, evaluated as the trials evaluate; the ``eval/...`` metrics and
    the per-example record (predictions, per-class report, answers or generations)."""
    weights = weights_file(checkpoint)
    trainer = config["trainer"]
    device = torch.device("cuda" if torch.cuda.is_available() and config["resources"]["gpus_per_trial"] > 0 else "cpu")
    tokenizer = load_tokenizer(config["model"])
    data = task.prepare(splits, tokenizer, {**trainer, "augment": {**trainer["augment"], "ratio": 0.0}})
    model = task.build(config["model"], data, trainer)
    load_weights(model, load_file(weights))
    place(model, device).eval()
    autocast, _ = precision_context(trainer["precision"], device)
    return task.evaluate(model, data, task.collator(tokenizer), trainer, device, autocast)
