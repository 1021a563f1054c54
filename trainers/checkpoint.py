"""The checkpoint of one evaluation: a ``save_pretrained`` model folder plus hpo's metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

METADATA_FILE = "hpo_checkpoint.json"


def save_checkpoint(
    directory: str | Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    metrics: dict[str, float],
    config: dict[str, Any],
) -> Path:
    """Write a folder that ``from_pretrained`` loads and that records how it was made."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / METADATA_FILE).write_text(json.dumps({"metrics": metrics, "config": config}, indent=2))
    return directory


def read_checkpoint_metadata(directory: str | Path) -> dict[str, Any]:
    """The metrics and config saved beside a checkpoint's weights."""
    return json.loads((Path(directory) / METADATA_FILE).read_text())
