"""The training state saved beside a checkpoint's weights: one shape for every run.

A plain run saves the optimizer, scheduler, loss scaler, the sampler's and torch's random
states, the step, the evaluations so far and the early-stopping counter; cross-validation saves
the folds it finished and the evaluations so far. Both write and read this one dataclass, so a
resumed trial reads exactly what its checkpoint wrote. Checkpoints written before it existed
hold a plain dict with a subset of these keys; :meth:`TrainingState.from_dict` reads those too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch


@dataclass
class TrainingState:
    """Everything a resumed run needs besides the weights, as saved in ``training_state.pt``."""

    step: int = 0  # optimizer steps done (cross-validation: folds done)
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None  # fp16's GradScaler
    # A resume re-enters the epoch it stopped in, so it needs the sampler's state at that epoch's start.
    epoch_generator_state: torch.Tensor | None = None
    torch_rng_state: torch.Tensor | None = None  # dropout masks continue as in an uninterrupted run
    early_stopping: dict[str, Any] | None = None
    adapt_metrics: dict[str, float] = field(default_factory=dict)  # domain adaptation's figures, reported again after a resume
    cv_folds: list[dict[str, float]] | None = None  # cross-validation: each finished fold's best evaluation

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``torch.save`` (no class of hpo's inside, so loading needs no hpo version)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TrainingState:
        """Read a saved state: this shape, or the plain dicts of older checkpoints (a subset of its keys)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in saved.items() if key in known}
        values["adapt_metrics"] = dict(values.get("adapt_metrics") or {})  # older checkpoints may hold None
        values["history"] = list(values.get("history") or [])
        return cls(**values)
