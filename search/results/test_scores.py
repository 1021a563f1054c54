"""The test split's scores of a sweep's top trials (``test_scores.json``), and the check that flags a
validation-test gap.

The test rows decide nothing in a sweep: the searcher, the scheduler and the ranking see the
validation metrics only. After the sweep the best ``sweep.test_top_k`` trials with a checkpoint are
scored on the test rows (:mod:`hpo.search.results.test_scoring`), and every reader of the results
(leaderboard, ``best/metrics.yaml``, the manifest, the W&B summary, the report) shows the two side by
side. A gap larger than the noise of the two estimates says the sweep picked its winner on noise in
the validation rows, or that the validation rows do not look like the test rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpo.layout import TEST_SCORES_FILE

EVAL_PREFIX, TEST_PREFIX = "eval/", "test/"
# Metrics that are not a share of rows in [0, 1]: their gap is judged relative to their size.
UNBOUNDED = ("loss", "perplexity", "mse", "rmse", "mae")
RELATIVE_GAP = 0.10  # an unbounded metric's test value more than 10% away from its validation value
STANDARD_ERRORS = 2.0  # a share of rows: a difference beyond ~95% of what two independent samples give


@dataclass
class TestScores:
    """``test/<metric>`` per scored trial, with the row counts the gap check needs."""

    validation_rows: int
    test_rows: int
    trials: dict[str, dict[str, float]]

    def of(self, trial_id: str) -> dict[str, float] | None:
        return self.trials.get(trial_id)


@dataclass
class Gap:
    """The sweep metric on validation and on test rows, and whether their difference is larger than noise."""

    metric: str
    validation: float
    test: float
    difference: float  # test - validation
    threshold: float
    large: bool


def test_metric(metric: str) -> str:
    """``eval/accuracy`` -> ``test/accuracy``: the same metric on the test rows."""
    return TEST_PREFIX + metric.removeprefix(EVAL_PREFIX)


def validation_test_gap(metric: str, validation: float, test: float, scores: TestScores) -> Gap:
    """Flag a gap beyond two standard errors of the difference of two shares (accuracy, F1, ...: the
    binomial error of each split's row count), or beyond 10% of the value for a loss-like metric."""
    name = metric.removeprefix(EVAL_PREFIX)
    bounded = name not in UNBOUNDED and 0 <= validation <= 1 and 0 <= test <= 1
    if bounded:
        variance = validation * (1 - validation) / max(1, scores.validation_rows) + test * (1 - test) / max(1, scores.test_rows)
        threshold = STANDARD_ERRORS * math.sqrt(variance)
    else:
        threshold = RELATIVE_GAP * abs(validation)
    difference = test - validation
    return Gap(metric, validation, test, difference, threshold, abs(difference) > threshold)


def write_test_scores(sweep_dir: Path, scores: TestScores) -> Path:
    path = Path(sweep_dir) / TEST_SCORES_FILE
    path.write_text(json.dumps(asdict(scores), indent=2))
    return path


def read_test_scores(sweep_dir: str | Path) -> TestScores | None:
    """The scores written after the sweep, or None (no test split, or not scored yet)."""
    path = Path(sweep_dir) / TEST_SCORES_FILE
    if not path.is_file():
        return None
    saved: dict[str, Any] = json.loads(path.read_text())
    return TestScores(saved["validation_rows"], saved["test_rows"], saved["trials"])
