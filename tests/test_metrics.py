"""The project's evaluate modules, loaded by path, match hand computations."""

from __future__ import annotations

import math

import pytest

from hpo.errors import ConfigError
from hpo.options import CLASSIFICATION_METRICS, LANGUAGE_MODEL_METRICS, REGRESSION_METRICS
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.evaluation.metrics import (
    METRIC_MODULES,
    classification_scorer,
    load_metric,
    perplexity_scorer,
    regression_scorer,
)

PREDICTIONS = [1, 1, 0, 1, 0, 0, 1, 0]
REFERENCES = [1, 0, 0, 1, 1, 0, 1, 0]
# tp=3 (0,3,6), fp=1 (1), fn=1 (4), tn=3 (2,5,7)
SCORES = [0.9, 0.6, 0.2, 0.8, 0.4, 0.1, 0.7, 0.3]  # P(class 1); positives 0.9 0.8 0.4 0.7, negatives 0.6 0.2 0.1 0.3
PROBABILITIES = [[1 - s, s] for s in SCORES]


def test_binary_metrics_match_hand_computation() -> None:
    scores = classification_scorer(list(CLASSIFICATION_METRICS), num_labels=2, average="auto")(PREDICTIONS, REFERENCES, PROBABILITIES)
    mcc = (3 * 3 - 1 * 1) / math.sqrt(4 * 4 * 4 * 4)
    auc = 15 / 16  # of 16 positive/negative pairs, only (0.4, 0.6) is ranked wrongly
    assert scores == pytest.approx({"accuracy": 6 / 8, "precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4,
                                    "matthews_correlation": mcc, "roc_auc": auc})


MC_PRED, MC_REF = [0, 1, 2, 2, 1, 0], [0, 1, 2, 1, 1, 2]
# class 0: tp1 fp1 fn0; class 1: tp2 fp0 fn1; class 2: tp1 fp1 fn1


def test_multiclass_metrics_are_macro_averaged_by_default() -> None:
    precision = (1 / 2 + 1 + 1 / 2) / 3
    recall = (1 + 2 / 3 + 1 / 2) / 3
    f1s = [2 * p * r / (p + r) for p, r in ((1 / 2, 1), (1, 2 / 3), (1 / 2, 1 / 2))]
    probs = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]]
    scores = classification_scorer(["accuracy", "f1", "precision", "recall", "roc_auc"], num_labels=3, average="auto")(MC_PRED, MC_REF, probs)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"] == pytest.approx(precision) and scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(sum(f1s) / 3)
    assert 0.5 < scores["roc_auc"] <= 1.0


def test_micro_and_weighted_averages() -> None:
    micro = classification_scorer(["f1", "precision"], num_labels=3, average="micro")(MC_PRED, MC_REF, [[1, 0, 0]] * 6)
    assert micro == pytest.approx({"f1": 4 / 6, "precision": 4 / 6})  # micro-averaged = accuracy here
    weighted = classification_scorer(["recall"], num_labels=3, average="weighted")(MC_PRED, MC_REF, [[1, 0, 0]] * 6)
    assert weighted["recall"] == pytest.approx((1 * 1 + 3 * 2 / 3 + 2 * 1 / 2) / 6)  # support-weighted recalls


def test_binary_average_needs_two_classes() -> None:
    with pytest.raises(ConfigError, match=r"trainer.average: binary needs two classes"):
        classification_scorer(["f1"], num_labels=3, average="binary")


def test_unknown_average_is_rejected_by_the_config_check() -> None:
    """Checked once, on the driver; the scorer trusts the name it is given."""
    with pytest.raises(ConfigError, match=r"trainer.average.*harmonic.*auto, binary, macro, micro, weighted"):
        check(resolve(compose_config("demo", ["trainer.average=harmonic"])))


def test_regression_metrics_match_hand_computation() -> None:
    predictions, references = [2.5, 0.0, 2.0, 8.0], [3.0, -0.5, 2.0, 7.0]
    scores = regression_scorer(list(REGRESSION_METRICS))(predictions, references, [])
    assert scores["mse"] == pytest.approx((0.25 + 0.25 + 0 + 1) / 4)
    assert scores["mae"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    mp, mr = sum(predictions) / 4, sum(references) / 4
    cov = sum((p - mp) * (r - mr) for p, r in zip(predictions, references, strict=True))
    pearson = cov / math.sqrt(sum((p - mp) ** 2 for p in predictions) * sum((r - mr) ** 2 for r in references))
    assert scores["pearsonr"] == pytest.approx(pearson)
    assert scores["spearmanr"] == pytest.approx(1.0)  # both rank as 3, 1, 2, 4
    constant = regression_scorer(["pearsonr"])([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [])
    assert math.isnan(constant["pearsonr"])  # undefined for a constant prediction: said, not crashed


def test_perplexity_is_exp_of_the_mean_token_loss() -> None:
    # two blocks: 3 tokens with summed NLL 3.0, 1 token with NLL 1.0 -> mean 1.0 per token
    scores = perplexity_scorer(list(LANGUAGE_MODEL_METRICS))([3.0, 1.0], [3, 1], [])
    assert scores["perplexity"] == pytest.approx(math.e)
    uniform = perplexity_scorer(["perplexity"])([10 * math.log(50)], [10], [])
    assert uniform["perplexity"] == pytest.approx(50)  # a uniform guess over 50 tokens


def test_modules_are_loaded_from_the_project_by_path() -> None:
    for name in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS, *LANGUAGE_MODEL_METRICS):
        assert (METRIC_MODULES / name / f"{name}.py").is_file()
        assert load_metric(name).name == name
