"""Data cleaning: each step changes the data as documented, on planted cases and on SST-2's real duplicates."""

from __future__ import annotations

import datasets
import pytest

from hpo.errors import ConfigError
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.data.cleaning import clean_splits, clean_text
from hpo.trainers.data.loading import load_splits
from tests.conftest import SST2
from tests.helpers.config_blocks import clean_block, data_block


def split(texts: list[str], labels: list[int] | None = None) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": texts, "label": labels or [0] * len(texts)})


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        ({}, "  caf\u00e9\u00a0 au   lait \n", "café au lait"),
        ({"lowercase": True}, "A Fine Film", "a fine film"),
        ({"strip_urls": True}, "see https://example.com/x now", "see now"),
        ({"strip_html": True}, "<b>bold</b> &amp; <i>brave</i>", "bold & brave"),
        ({"remove_stopwords": True}, "the film is not a bore", "film bore"),
        ({"normalize": True}, "ｆｕｌｌ width", "full width"),
    ],
)
def test_text_steps(options: dict, text: str, expected: str) -> None:
    assert clean_text(text, clean_block(**options)) == expected


def test_planted_duplicates_are_removed_and_leakage_counted() -> None:
    train = split(["A good film.", "A good film.", "a GOOD film!", "bad film", "another one"])
    evaluation = split(["a good film", "unseen text", "bad film"])
    _, _, none = clean_splits(train, evaluation, clean_block(dedup="none"))
    exact_train, _, exact = clean_splits(train, evaluation, clean_block(dedup="exact"))
    near_train, near_eval, near = clean_splits(train, evaluation, clean_block(dedup="near", drop_leaked=True))
    assert none["data/train_rows"] == 5 and "data/duplicates_removed" not in none
    assert exact["data/duplicates_removed"] == 1 and exact_train["text"] == ["A good film.", "a GOOD film!", "bad film", "another one"]
    assert near["data/duplicates_removed"] == 2 and near_train["text"] == ["A good film.", "bad film", "another one"]
    assert exact["data/leaked_eval_rows"] == 1  # "bad film" only: exact keys differ in case and punctuation
    assert near["data/leaked_eval_rows"] == 2 and near_eval["text"] == ["unseen text"]


def test_length_filters_apply_to_training_rows_only() -> None:
    train, evaluation, report = clean_splits(split(["one", "two words", "three words here"]), split(["x"]), clean_block(min_words=2, max_words=2))
    assert train["text"] == ["two words"] and report["data/removed_by_length"] == 2
    assert evaluation["text"] == ["x"]


def test_sst2_really_has_duplicates_and_leakage() -> None:
    data = data_block(format="tsv", train_path=str(SST2 / "train.tsv"), eval_path=str(SST2 / "validation.tsv"),
                      text_column="sentence", label_column="label", max_train_samples=20000, max_eval_samples=2000,
                      clean={"dedup": "near"})
    splits = load_splits(data)
    report = splits.report
    assert report["data/duplicates_removed"] > 100, report
    assert report["data/leaked_eval_rows"] > 50, report
    assert report["data/train_rows"] == 20000 - report["data/duplicates_removed"]
    assert not any(t.endswith(" ") for t in splits.train["text"][:200])  # the trailing spaces are gone


def test_unknown_dedup_is_rejected_by_the_config_check() -> None:
    """Checked once, on the driver: ``clean_splits`` trusts the block it is given."""
    with pytest.raises(ConfigError, match=r"data.clean.dedup.*fuzzy.*none, exact, near"):
        check(resolve(compose_config("demo", ["data.clean.dedup=fuzzy"])))
