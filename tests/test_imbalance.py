"""Class-imbalance handling on the real, imbalanced emotion data (6 classes, 'surprise' about 4%)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpo.errors import ConfigError
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.data.imbalance import class_weights, resample
from hpo.trainers.data.loading import load_splits
from tests.conftest import SHARED_DATA
from tests.helpers.config_blocks import data_block
from tests.test_loop import config, run

EMOTION = data_block(format="tsv", train_path=str(SHARED_DATA / "emotion" / "train.tsv"),
                     eval_path=str(SHARED_DATA / "emotion" / "validation.tsv"), text_column="text", label_column="label")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    splits = load_splits(EMOTION)
    return [{"labels": y, "i": i} for i, y in enumerate(splits.train["label"])]


def test_the_data_is_imbalanced(rows) -> None:
    counts = Counter(r["labels"] for r in rows)
    assert len(counts) == 6 and max(counts.values()) > 5 * min(counts.values())


@pytest.mark.parametrize("how", ["oversample", "undersample"])
def test_resampling_balances_the_class_counts(rows, how: str) -> None:
    counts = Counter(r["labels"] for r in rows)
    out = resample(rows, how, seed=0)
    balanced = Counter(r["labels"] for r in out)
    target = max(counts.values()) if how == "oversample" else min(counts.values())
    assert set(balanced.values()) == {target}
    original = {r["i"] for r in rows}
    assert {r["i"] for r in out} <= original  # only rows of the training data, repeated or dropped


def test_balanced_class_weights_match_the_definition(rows) -> None:
    counts = Counter(r["labels"] for r in rows)
    weights = class_weights(rows, "balanced", 6)
    expected = torch.tensor([len(rows) / (6 * counts[c]) for c in range(6)])
    assert torch.allclose(weights, expected)
    assert weights[min(counts, key=counts.get)] == weights.max()
    assert class_weights(rows, "none", 6) is None


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.resample=smote", r"trainer.resample.*smote.*oversample"),
    ("trainer.class_weights=inverse", r"trainer.class_weights.*inverse.*balanced"),
])
def test_unknown_options_are_rejected_by_the_config_check(override: str, message: str) -> None:
    """Checked once, on the driver: ``resample`` and ``class_weights`` trust the names they get."""
    with pytest.raises(ConfigError, match=message):
        check(resolve(compose_config("demo", [override])))


def test_a_trial_trains_with_weights_and_oversampling() -> None:
    history = run(config("trainer.epochs=1", "trainer.class_weights=balanced", "trainer.resample=oversample"))
    assert history and history[0]["train/loss"] > 0
