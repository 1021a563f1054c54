"""Early stopping inside one run: stop after ``patience`` evaluations without improvement of the
sweep's metric, and put the best evaluation's weights back into the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class EarlyStopping:
    """Patience counter on the sweep's metric, holding a CPU copy of the best weights."""

    patience: int
    min_delta: float
    mode: str
    best: float | None = None
    bad_evaluations: int = 0
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (the first evaluation always does)."""
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def update(self, value: float, model: torch.nn.Module) -> bool:
        """Record one evaluation; True when training should stop."""
        if self.improved(value):
            self.best, self.bad_evaluations = value, 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return False
        self.bad_evaluations += 1
        return self.bad_evaluations >= self.patience

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the best evaluation's weights (a no-op before the first evaluation)."""
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to keep counting (the weights are in the checkpoint history)."""
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue counting from a resumed run's :meth:`state`."""
        self.best, self.bad_evaluations = state["best"], state["bad_evaluations"]


def build_early_stopping(trainer: dict[str, Any], mode: str) -> EarlyStopping | None:
    """None unless ``trainer.early_stopping_patience`` is set (the config check makes it at least 1)."""
    patience = trainer["early_stopping_patience"]
    if patience is None:
        return None
    return EarlyStopping(patience, float(trainer["early_stopping_min_delta"]), mode)

