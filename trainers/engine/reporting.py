"""What a run reports: when it evaluates, the figures added to each evaluation, the best so far, early stopping.

The loop hands every evaluation to a callback (``tune.report`` in a trial, a file writer in
``hpo train``) and keeps the history and the best evaluation by the sweep's metric; early
stopping (``trainer.early_stopping_patience``) ends the run and puts the best weights back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hpo.evaluation_plan import planned_evaluations
from hpo.ranking import is_better
from hpo.trainers.engine.checkpoint import Snapshot
from hpo.trainers.engine.state import TrainingState
from hpo.trainers.evaluation.early_stopping import build_early_stopping

OnEvaluation = Callable[[dict[str, float], Snapshot], None]


@dataclass
class FineTuneResult:
    """The evaluations of one run and the best of them by the sweep's metric."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None

    def add(self, metrics: dict[str, float], metric: str, mode: str) -> None:
        """Append an evaluation; it becomes the best when it beats the best so far under ``mode``."""
        self.history.append(metrics)
        if is_better(metrics[metric], self.best[metric] if self.best else None, mode):
            self.best = metrics


@dataclass
class TrainingMeter:
    """Mean training loss and samples per second since the last evaluation."""

    loss_sum: float = 0.0
    loss_count: int = 0
    samples: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, loss: float) -> None:
        self.loss_sum, self.loss_count = self.loss_sum + loss, self.loss_count + 1

    def take(self) -> tuple[float, float]:
        """``(mean training loss, samples per second)``, then start counting afresh."""
        loss = self.loss_sum / max(1, self.loss_count)
        throughput = self.samples / (time.perf_counter() - self.started)
        self.loss_sum, self.loss_count, self.samples = 0.0, 0, 0
        return loss, throughput

    def restart_clock(self) -> None:
        """Leave the time an evaluation and its checkpoint took out of the next throughput figure."""
        self.started = time.perf_counter()


class Evaluations:
    """The evaluation schedule of one run, its history and best, and early stopping on the sweep's metric."""

    def __init__(self, cfg: dict[str, Any], steps_per_epoch: int, total_steps: int, reported: dict[str, float]) -> None:
        """Schedule the evaluations of a run of ``total_steps`` optimizer steps.

        Args:
            cfg: the resolved config (``trainer`` and ``sweep`` blocks).
            steps_per_epoch: optimizer steps per epoch.
            total_steps: optimizer steps of the whole run: the last one is always evaluated.
            reported: figures added to every evaluation (the data's and domain adaptation's).
        """
        trainer, sweep = cfg["trainer"], cfg["sweep"]
        self.metric, self.mode = sweep["metric"], sweep["mode"]
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        self.every = trainer["eval_every_steps"] or steps_per_epoch
        # lets the sweep tell "stopped early" from "finished"; ASHA's max_t is counted on the driver by the same formula
        self.planned = planned_evaluations(steps_per_epoch, trainer["epochs"], trainer["eval_every_steps"])
        self.reported = reported
        self.early_stopping = build_early_stopping(trainer, self.mode)
        self.result = FineTuneResult()
        self.meter = TrainingMeter()

    def due(self, step: int) -> bool:
        """Whether optimizer step ``step`` ends with an evaluation."""
        return step % self.every == 0 or step == self.total_steps

    def record(self, metrics: dict[str, float], step: int, model: torch.nn.Module) -> bool:
        """Complete an evaluation's metrics (in place) with the training figures and keep it.

        Returns:
            True when early stopping ends the run.
        """
        loss, throughput = self.meter.take()
        metrics.update({
            "train/loss": loss,
            "epoch": step / self.steps_per_epoch,
            "step": step,
            "evaluations_planned": self.planned,
            **self.reported,
            "train/samples_per_second": throughput,
        })
        self.result.add(metrics, self.metric, self.mode)
        return self.early_stopping is not None and self.early_stopping.update(metrics[self.metric], model)

    def state(self) -> dict[str, Any]:
        """This part of the :class:`TrainingState`: the history, the best and the early-stopping counter."""
        return {
            "history": self.result.history,
            "best": self.result.best,
            "early_stopping": self.early_stopping.state() if self.early_stopping is not None else None,
        }

    def restore(self, state: TrainingState) -> None:
        """Continue the history, the best and the patience count of a resumed run."""
        self.result.history, self.result.best = state.history, state.best
        if self.early_stopping is not None and state.early_stopping:
            self.early_stopping.load_state(state.early_stopping)

    def finish(self, model: torch.nn.Module) -> FineTuneResult:
        """End the run: with early stopping, the model gets the best evaluation's weights back."""
        if self.early_stopping is not None:
            self.early_stopping.restore_best(model)
        return self.result
