"""Evaluation metrics, loaded by path from the evaluate modules shipped in ``metric_modules/``.

Loading by path keeps ``evaluate``'s real API (the same call works with Hub names online)
while needing no network. Each metric is reported as ``eval/<name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import evaluate

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"
CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall")
AVERAGED = ("f1", "precision", "recall")
# Always reported besides the configured metrics, so the sweep may also rank by them.
BUILTIN_METRICS = ("loss",)


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    """The evaluate module for ``name``; cached because loading copies and imports a script."""
    return evaluate.load(str(METRIC_MODULES / name))


def classification_scorer(
    names: Sequence[str], num_labels: int
) -> Callable[[Sequence[int], Sequence[int]], dict[str, float]]:
    """A function from (predictions, references) to ``{name: value}``.

    Binary tasks score the positive class (label id 1); multi-class tasks macro-average, so each
    class counts the same however rare.
    """
    modules = {name: load_metric(name) for name in names}
    average = "binary" if num_labels == 2 else "macro"

    def score(predictions: Sequence[int], references: Sequence[int]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, module in modules.items():
            kwargs = {"average": average} if name in AVERAGED else {}
            out.update(module.compute(predictions=predictions, references=references, **kwargs))
        return out

    return score
