"""Evaluation metrics, loaded by path from the evaluate modules shipped in ``metric_modules/``.

Loading by path keeps ``evaluate``'s real API (the same call works with Hub names online)
while needing no network. Each metric is reported as ``eval/<name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import evaluate

from hpo.errors import ConfigError

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"
AVERAGED = ("f1", "precision", "recall")

Scorer = Callable[[Sequence[int], Sequence[int], Sequence[Sequence[float]]], dict[str, float]]


@cache
def load_metric(name: str, config_name: str | None = None) -> evaluate.EvaluationModule:
    """The evaluate module for ``name``; cached because loading copies and imports a script."""
    return evaluate.load(str(METRIC_MODULES / name), config_name)


def classification_scorer(names: Sequence[str], num_labels: int, average: str) -> Scorer:
    """A function from (predictions, references, class probabilities) to ``{name: value}``.

    ``average`` is ``trainer.average``, one of ``hpo.options.AVERAGES`` (the schema checked it).
    ``auto``: binary tasks score the positive class (label id 1); multi-class tasks macro-average,
    so each class counts the same however rare.

    Raises:
        ConfigError: ``binary`` for data that has more than two classes.
    """
    if average == "auto":
        average = "binary" if num_labels == 2 else "macro"
    elif average == "binary" and num_labels != 2:
        raise ConfigError("trainer.average", f"binary needs two classes, the data has {num_labels}", value=average)
    multiclass = num_labels > 2
    modules = {name: load_metric(name, "multiclass" if name == "roc_auc" and multiclass else None) for name in names}

    def score(predictions: Sequence[int], references: Sequence[int], probabilities: Sequence[Sequence[float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, module in modules.items():
            if name == "roc_auc":
                scores = probabilities if multiclass else [p[1] for p in probabilities]
                if len(set(references)) < 2:  # undefined on one class; say so rather than crash
                    out["roc_auc"] = float("nan")
                    continue
                out.update(module.compute(references=references, prediction_scores=scores))
                continue
            kwargs = {"average": average} if name in AVERAGED else {}
            out.update(module.compute(predictions=predictions, references=references, **kwargs))
        return out

    return score


def regression_scorer(names: Sequence[str]) -> Scorer:
    """A function from (predicted values, reference values, unused) to ``{name: value}``."""
    modules = {name: load_metric(name) for name in names}

    def score(predictions: Sequence[float], references: Sequence[float], _: Sequence[Sequence[float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for module in modules.values():
            out.update(module.compute(predictions=predictions, references=references))
        return out

    return score


def perplexity_scorer(names: Sequence[str]) -> Scorer:
    """A function from (summed NLL per block, predicted tokens per block, unused) to ``{name: value}``."""
    module = load_metric("perplexity")

    def score(nll: Sequence[float], tokens: Sequence[int], _: Sequence[Sequence[float]]) -> dict[str, float]:
        return {"perplexity": module.compute(nll=nll, tokens=tokens)["perplexity"]} if "perplexity" in names else {}

    return score


GENERATION_METRICS = ("exact_match", "rouge_l")


def generation_scorer(names: Sequence[str]) -> Callable[[Sequence[str], Sequence[str]], dict[str, float]]:
    """A function from (generated answers, reference answers) to ``{name: value}`` for the
    generation metrics among ``names`` (a chat task's extracted final answers and replies)."""
    modules = {name: load_metric(name) for name in names if name in GENERATION_METRICS}

    def score(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for module in modules.values():
            out.update(module.compute(predictions=list(predictions), references=list(references)))
        return out

    return score
