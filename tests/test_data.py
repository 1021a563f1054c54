"""Loading the shared datasets and the demo data into labelled splits."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from hpo.errors import ConfigError
from hpo.trainers.data.demo import make_demo_split
from hpo.trainers.data.loading import load_splits
from tests.conftest import RTE, SHARED_DATA, SST2
from tests.helpers.config_blocks import clean_block, data_block


def test_sst2_tsv_with_integer_labels() -> None:
    splits = load_splits(data_block(
        format="tsv", train_path=str(SST2 / "train.tsv"), eval_path=str(SST2 / "validation.tsv"),
        text_column="sentence", label_column="label", max_train_samples=50, max_eval_samples=20,
    ))
    assert (len(splits.train), len(splits.eval)) == (50, 20)
    assert splits.label_names == ["0", "1"]
    assert set(splits.train.column_names) == {"text", "label"}


def test_rte_jsonl_pairs_with_string_labels_are_encoded() -> None:
    splits = load_splits(data_block(
        format="jsonl", train_path=str(RTE / "train.jsonl"), eval_path=str(RTE / "validation.jsonl"),
        text_column="premise", text_pair_column="hypothesis", label_column="label",
    ))
    assert splits.label_names == ["entailment", "not_entailment"]
    assert len(splits.train) == 2490 and len(splits.eval) == 277
    assert set(splits.train["label"]) == {0, 1}
    assert splits.train.features["label"].names == ["entailment", "not_entailment"]
    assert "text_pair" in splits.eval.column_names


def test_subsampling_is_seeded() -> None:
    data = data_block(format="tsv", train_path=str(SST2 / "train.tsv"), eval_path=str(SST2 / "validation.tsv"),
                      text_column="sentence", label_column="label", max_train_samples=30)
    assert load_splits(data, seed=1).train["text"] == load_splits(data, seed=1).train["text"]
    assert load_splits(data, seed=1).train["text"] != load_splits(data, seed=2).train["text"]


def test_demo_data_is_deterministic_and_balanced() -> None:
    a, b = make_demo_split(400, seed=3), make_demo_split(400, seed=3)
    assert a == b
    assert 0.4 < sum(a["label"]) / 400 < 0.6
    assert any(" but " in t for t in a["text"]) and any(" not " in t for t in a["text"])


def test_eval_labels_unseen_in_training_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("text\tlabel\ngood\tpos\nbad\tneg\n")
    (tmp_path / "dev.tsv").write_text("text\tlabel\nmeh\tneutral\n")
    with pytest.raises(ConfigError, match=r"data.label_column.*labels not in the training data.*neutral"):
        load_splits(data_block(format="tsv", train_path=str(tmp_path / "train.tsv"), eval_path=str(tmp_path / "dev.tsv"),
                               text_column="text", label_column="label"))


def test_csv_format(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text('text,label\n"good, really",1\nbad,0\n')
    splits = load_splits(data_block(format="csv", train_path=str(tmp_path / "train.csv"), eval_path=str(tmp_path / "train.csv"),
                                    text_column="text", label_column="label"))
    assert splits.train["text"][0] == "good, really"


def test_trec_without_validation_file_gets_a_stratified_split() -> None:
    splits = load_splits(data_block(format="tsv", train_path=str(SHARED_DATA / "trec" / "train.tsv"), eval_path=None,
                                    validation_fraction=0.2, text_column="text", label_column="coarse_label"))
    assert splits.num_labels == 6 and len(splits.eval) == math.ceil(5452 * 0.2)  # datasets rounds the held-out share up
    train, held = Counter(splits.train["label"]), Counter(splits.eval["label"])
    for label in train:  # same class proportions in both parts
        assert abs(train[label] / len(splits.train) - held[label] / len(splits.eval)) < 0.01


def test_parquet_files(tmp_path: Path) -> None:
    splits = load_splits(data_block(format="tsv", train_path=str(SST2 / "train.tsv"), eval_path=str(SST2 / "validation.tsv"),
                                    text_column="sentence", label_column="label", max_train_samples=40, max_eval_samples=10))
    splits.train.rename_column("text", "sentence").to_parquet(str(tmp_path / "train.parquet"))
    splits.eval.rename_column("text", "sentence").to_parquet(str(tmp_path / "dev.parquet"))
    again = load_splits(data_block(format="parquet", train_path=str(tmp_path / "train.parquet"), eval_path=str(tmp_path / "dev.parquet"),
                                   text_column="sentence", label_column="label"))
    assert again.train["text"] == splits.train["text"] and len(again.eval) == 10


def _trec(**overrides) -> dict:
    return data_block(format="tsv", train_path=str(SHARED_DATA / "trec" / "train.tsv"), eval_path=None,
                      text_column="text", label_column="coarse_label", **overrides)


def test_a_held_out_test_fraction_never_reaches_the_trials_rows() -> None:
    trial = load_splits(_trec(test_fraction=0.2), seed=3)  # what a trial loads: no test rows
    scoring = load_splits(_trec(test_fraction=0.2), seed=3, with_test=True)  # what the driver scores on
    assert trial.test is None and scoring.test is not None
    assert trial.train["text"] == scoring.train["text"] and trial.eval["text"] == scoring.eval["text"]
    assert len(scoring.test) == math.ceil(0.2 * 5452)  # a fifth of TREC's 5,452 training rows, before the validation share
    # stratified: every class of the training rows is in the test rows, in about the same share
    train_share = Counter(scoring.train["label"])
    test_share = Counter(scoring.test["label"])
    assert set(test_share) == set(train_share)
    for label, count in test_share.items():
        assert count / len(scoring.test) == pytest.approx(train_share[label] / len(scoring.train), abs=0.02)


def test_a_test_file_is_encoded_with_the_training_labels_and_loaded_only_on_request() -> None:
    data = _trec(test_path=str(SHARED_DATA / "trec" / "test.tsv"), max_test_samples=100)
    assert load_splits(data).test is None
    splits = load_splits(data, with_test=True)
    assert len(splits.test) == 100 and set(splits.test.column_names) == {"text", "label"}
    assert splits.test.features["label"].names == splits.label_names


def test_the_validation_test_gap_is_judged_against_the_noise_of_both_splits() -> None:
    from hpo.search.results.test_scores import TestScores, validation_test_gap

    scores = TestScores(validation_rows=100, test_rows=100, trials={})
    # two shares of 100 rows: the difference's standard error is sqrt(.9*.1/100 + .81*.19/100) = 0.0494
    within = validation_test_gap("eval/accuracy", 0.9, 0.81, scores)
    assert within.threshold == pytest.approx(2 * math.sqrt(0.9 * 0.1 / 100 + 0.81 * 0.19 / 100))
    assert not within.large and within.difference == pytest.approx(-0.09)
    assert validation_test_gap("eval/accuracy", 0.95, 0.8, scores).large
    # a loss: 10% of its validation value
    assert not validation_test_gap("eval/loss", 0.5, 0.54, scores).large
    assert validation_test_gap("eval/loss", 0.5, 0.56, scores).large


def test_a_language_model_test_fraction_is_the_tail_no_trial_trains_on() -> None:
    from hpo.trainers.data.text import load_text_splits

    data = data_block(format="text", train_path=str(SHARED_DATA / "tinyshakespeare" / "input.txt"), label_column=None,
                      test_fraction=0.1, max_test_samples=50, clean=clean_block(normalize=False))
    trial = load_text_splits(data)
    scoring = load_text_splits(data, with_test=True)
    assert trial.test is None and len(scoring.test) == 50
    assert trial.train["text"] == scoring.train["text"] and trial.eval["text"] == scoring.eval["text"]
    assert not set(scoring.test["text"]) & set(trial.train["text"])  # the last tenth of the text, held out first
