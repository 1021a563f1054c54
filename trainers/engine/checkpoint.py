"""The checkpoint of one evaluation: a ``save_pretrained`` model folder plus hpo's metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo.layout import CHECKPOINT_METADATA_FILE
from hpo.trainers.engine.loop import Snapshot


def save_checkpoint(
    directory: str | Path,
    snapshot: Snapshot,
    metrics: dict[str, float],
    config: dict[str, Any],
    with_training_state: bool = True,
) -> Path:
    """Write a folder that ``from_pretrained`` loads, that records how it was made and, for
    trials, that holds the optimizer and scheduler state a resumed trial continues from."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    snapshot.save(directory, with_training_state=with_training_state)
    (directory / CHECKPOINT_METADATA_FILE).write_text(json.dumps({"metrics": metrics, "config": config}, indent=2))
    return directory


def read_checkpoint_metadata(directory: str | Path) -> dict[str, Any]:
    """The metrics and config saved beside a checkpoint's weights."""
    return json.loads((Path(directory) / CHECKPOINT_METADATA_FILE).read_text())
