"""The project's evaluate modules, loaded by path, match hand computations."""

from __future__ import annotations

import pytest

from trainers.metrics import METRIC_MODULES, classification_scorer, load_metric

PREDICTIONS = [1, 1, 0, 1, 0, 0, 1, 0]
REFERENCES = [1, 0, 0, 1, 1, 0, 1, 0]
# tp=3 (0,3,6), fp=1 (1), fn=1 (4), tn=3 (2,5,7)


def test_binary_metrics_match_hand_computation() -> None:
    scores = classification_scorer(["accuracy", "f1", "precision", "recall"], num_labels=2)(PREDICTIONS, REFERENCES)
    assert scores == pytest.approx({"accuracy": 6 / 8, "precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4})


def test_multiclass_metrics_are_macro_averaged() -> None:
    predictions, references = [0, 1, 2, 2, 1, 0], [0, 1, 2, 1, 1, 2]
    # class 0: p=1/2 r=1/1; class 1: p=2/2 r=2/3; class 2: p=1/2 r=1/2
    precision = (1 / 2 + 1 + 1 / 2) / 3
    recall = (1 + 2 / 3 + 1 / 2) / 3
    f1s = [2 * p * r / (p + r) for p, r in ((1 / 2, 1), (1, 2 / 3), (1 / 2, 1 / 2))]
    scores = classification_scorer(["accuracy", "f1", "precision", "recall"], num_labels=3)(predictions, references)
    assert scores == pytest.approx({"accuracy": 4 / 6, "precision": precision, "recall": recall, "f1": sum(f1s) / 3})


def test_modules_are_loaded_from_the_project_by_path() -> None:
    for name in ("accuracy", "f1", "precision", "recall"):
        assert (METRIC_MODULES / name / f"{name}.py").is_file()
        assert load_metric(name).name == name
