"""The checkpoint of one evaluation: a ``save_pretrained`` model folder plus hpo's metadata and training state.

:class:`Snapshot` is what the loop hands to ``on_evaluation``; :func:`save_checkpoint` writes it
with the metrics and config; :class:`ResumeState` reads a checkpoint back for a resumed run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hpo.layout import CHECKPOINT_METADATA_FILE, TRAINING_STATE_FILE
from hpo.trainers.engine.faults import CorruptCheckpointError
from hpo.trainers.engine.state import TrainingState
from hpo.trainers.models.lora import save_weights, weights_file


class EvaluationRecord(Protocol):
    """The per-example record of an evaluation (predictions, a report, the folds of cross-validation)."""

    def save(self, directory: str | Path) -> None:
        """Write the record's files into the checkpoint folder."""


@dataclass
class Snapshot:
    """Everything needed to save one evaluation: the weights, and the state to resume training from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    training_state: TrainingState
    evaluation: EvaluationRecord | None = None

    def save(self, directory: str | Path, with_training_state: bool = True) -> Path:
        """``save_pretrained`` folder, the evaluation's predictions and report, and (for an exact
        resume) the optimizer, scheduler, RNG and step."""
        directory = Path(directory)
        save_weights(self.model, directory)
        self.tokenizer.save_pretrained(directory)
        if self.evaluation is not None:
            self.evaluation.save(directory)
        if with_training_state:
            torch.save(self.training_state.to_dict(), directory / TRAINING_STATE_FILE)
        return directory


@dataclass
class ResumeState:
    """A checkpoint read back into memory: model weights (with LoRA, the adapters and head) and the training state saved beside them."""

    weights: dict[str, torch.Tensor]
    training_state: TrainingState

    @classmethod
    def load(cls, directory: str | Path) -> ResumeState | None:
        """None when the folder holds no training state (e.g. an exported best checkpoint).

        Raises:
            CorruptCheckpointError: a file of the checkpoint cannot be read, named with the reason.
        """
        directory = Path(directory)
        state_file = directory / TRAINING_STATE_FILE
        if not state_file.is_file():
            return None
        try:
            # weights_only=False: the state holds the optimizer's and the RNGs' state, written by hpo itself
            saved = torch.load(state_file, weights_only=False)
            weights = load_file(weights_file(directory))
        except Exception as exc:  # torch and safetensors raise many types for a truncated or damaged file
            raise CorruptCheckpointError(f"the checkpoint {directory} cannot be read ({type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0] if str(exc) else ''}): its files are truncated or "
                                         "damaged; the trial cannot continue from it") from None
        return cls(weights, TrainingState.from_dict(saved))


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

