"""One fine-tuning of a config: the task's data loaded, then a plain run or k-fold cross-validation.

What a trial (single process or one rank of a data-parallel trial) and ``hpo train`` call: the
choice of run lives here, the training itself in :mod:`hpo.trainers.engine`.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import logging as hf_logging

from hpo.trainers.engine.checkpoint import ResumeState
from hpo.trainers.engine.loop import DataParallelRank, train_on_splits
from hpo.trainers.engine.reporting import FineTuneResult, OnEvaluation
from hpo.trainers.runs.cross_validation import cross_validate
from hpo.trainers.tasks.registry import get_task


def fine_tune(
    cfg: dict[str, Any],
    on_evaluation: OnEvaluation,
    num_threads: float | None = None,
    resume: ResumeState | None = None,
    distributed: DataParallelRank | None = None,
) -> FineTuneResult:
    """Fine-tune ``cfg['model']`` on ``cfg['data']`` for ``cfg['trainer']['task']`` with its hyperparameters.

    Args:
        cfg: the full resolved config as plain data (with the trial's sampled values applied).
        on_evaluation: called after every evaluation with the metrics and a
            :class:`~hpo.trainers.engine.checkpoint.Snapshot` (with ``trainer.cv_folds``: once
            per fold, with the mean over the folds so far).
        num_threads: torch CPU threads; a trial sets it from its CPU share.
        resume: continue exactly where a checkpoint left off (same batches, same schedule).
        distributed: this rank of a data-parallel trial (``resources.workers_per_trial`` > 1):
            DDP and this rank's share of the batches. The config check keeps it apart from
            cross-validation.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
        TrialOutOfMemoryError: a step ran out of memory.
    """
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if num_threads:
        torch.set_num_threads(max(1, int(num_threads)))
    task = get_task(cfg["trainer"]["task"])
    splits = task.load_splits(cfg["data"], seed=cfg["sweep"]["seed"])
    if cfg["trainer"]["cv_folds"] is not None:
        return cross_validate(cfg, task, splits, on_evaluation, resume)
    return train_on_splits(cfg, task, splits, on_evaluation, resume, distributed)
