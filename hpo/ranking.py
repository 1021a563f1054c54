"""Which of two evaluations is better under the sweep's mode: one definition for the trial loop,
cross-validation, ``hpo train``, the progress lines and the Optuna searcher."""

from __future__ import annotations


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` under the sweep's mode (``max`` or ``min``)."""
    if best is None:
        return True
    return value > best if mode == "max" else value < best


# A k-fold trial reports the running mean after each fold; only the mean over the most folds it
# finished stands for the configuration (a mean over fewer folds is not its score, however good).
CV_FOLDS_DONE = "cv/folds_done"
