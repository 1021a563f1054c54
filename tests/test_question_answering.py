"""Extractive question answering on SQuAD 2.0: windows and offsets, answer decoding, the metric, the data checks."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from hpo.errors import ConfigError
from hpo.trainers.data.qa import labelled_windows, load_qa_splits
from hpo.trainers.evaluation.metrics import load_metric
from hpo.trainers.tasks.question_answering import QuestionAnsweringData, decode_answers
from tests.test_loop import config

QA = ["trainer=question_answering", "data=squad_v2", "sweep.metric=eval/f1", "trainer.max_seq_length=128", "trainer.qa.doc_stride=32"]


@pytest.fixture(scope="module")
def splits():
    return load_qa_splits(config(*QA)["data"], seed=0)


def test_offsets_map_every_labelled_answer_back_to_its_text(splits) -> None:
    tokenizer = AutoTokenizer.from_pretrained(config()["model"]["pretrained"])
    rows = splits.train.select(range(200))
    windows, questions, offsets = labelled_windows(rows, tokenizer, max_length=128, stride=32)
    assert len(windows) > len(rows)  # long contexts became several windows
    labelled = 0
    for window, question, window_offsets in zip(windows, questions, offsets, strict=True):
        answers = rows[question]["answers"]
        if window["start_positions"] == 0:
            continue
        labelled += 1
        span = rows[question]["context"][window_offsets[window["start_positions"]][0]:window_offsets[window["end_positions"]][1]]
        assert span == answers["text"][0]
    answerable = sum(bool(a["text"]) for a in rows["answers"])
    assert labelled >= answerable  # every answerable question is labelled in at least one of its windows


def test_unanswerable_questions_predict_the_empty_answer_and_spans_their_text() -> None:
    context = "Paris is the capital of France."
    data = QuestionAnsweringData([], [], [], questions=[{"id": "a", "context": context, "answers": {"text": ["France"], "answer_start": [24]}},
                                                        {"id": "b", "context": context, "answers": {"text": [], "answer_start": []}}],
                                 window_question=[0, 1], window_offsets=[[None, (0, 5), (24, 30)], [None, (0, 5), (24, 30)]])
    starts = [[0.0, 0.1, 5.0], [9.0, 0.1, 1.0]]  # question b: [CLS] scores above any span
    ends = [[0.0, 0.1, 5.0], [9.0, 0.1, 1.0]]
    assert decode_answers(data, starts, ends, n_best=3, max_answer_length=30) == {"a": "France", "b": ""}
    # the best-scoring pair ends before it starts (France .. Paris): never chosen
    assert decode_answers(data, [[0.0, 0.0, 9.0]] * 2, [[0.0, 9.0, 1.0]] * 2, n_best=3, max_answer_length=30)["a"] == "France"
    # the best-scoring span (Paris .. France) is 2 tokens, longer than allowed: the best 1-token one instead
    assert decode_answers(data, [[0.0, 9.0, 0.0]] * 2, [[0.0, 0.0, 9.0]] * 2, n_best=3, max_answer_length=1)["a"] == "Paris"


def test_exact_match_and_f1_match_a_hand_computation() -> None:
    references = [{"id": "1", "answers": {"text": ["the Eiffel Tower"], "answer_start": [0]}},
                  {"id": "2", "answers": {"text": ["in the north of France", "northern France"], "answer_start": [0, 0]}},
                  {"id": "3", "answers": {"text": [], "answer_start": []}},
                  {"id": "4", "answers": {"text": [], "answer_start": []}}]
    predictions = [{"id": "1", "prediction_text": "Eiffel tower."},  # normalised: same words, no article or punctuation
                   {"id": "2", "prediction_text": "north France"},  # vs "north france" (gold 1 normalised): P 1, R 2/4 -> F1 2/3
                   {"id": "3", "prediction_text": ""},  # unanswerable, abstained: right
                   {"id": "4", "prediction_text": "Paris"}]  # unanswerable, answered: wrong
    scores = load_metric("squad_v2").compute(predictions=predictions, references=references)
    # gold 2 "northern France": tokens {northern, france}, common 1: P 1/2, R 1/2 -> 1/2; the best gold gives 2/3
    assert scores["exact_match"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert scores["has_answer_f1"] == pytest.approx((1 + 2 / 3) / 2) and scores["no_answer_exact_match"] == pytest.approx(1 / 2)


def test_squads_nested_json_reads_as_the_same_questions_as_the_flat_file() -> None:
    nested = config(*QA, "data.format=squad", "data.train_path=${hpo_project_root:}/../shared/data/squad_v2/squad_nested_sample.json",
                    "data.eval_path=${hpo_project_root:}/../shared/data/squad_v2/squad_nested_sample.json", "data.test_fraction=null")
    flat = config(*QA, "data.train_path=${hpo_project_root:}/../shared/data/squad_v2/validation.jsonl", "data.test_fraction=null")
    from_nested, from_flat = load_qa_splits(nested["data"]).eval, load_qa_splits(flat["data"]).eval
    assert from_nested["id"][:] == from_flat["id"][:] and from_nested["answers"][:] == from_flat["answers"][:]
    assert len(from_nested) == 247 and sum(not a["text"] for a in from_nested["answers"]) > 0


@pytest.mark.parametrize(("overrides", "expected"), [
    (["trainer.qa.doc_stride=64"], ["trainer.qa.doc_stride", "half of trainer.max_seq_length"]),
    (["data=demo"], ["data.format", "squad", "jsonl"]),
    (["trainer=classification", "sweep.metric=eval/accuracy", "data.format=squad"], ["data.format", "trainer=question_answering"]),
    (["sweep.metric=eval/accuracy"], ["sweep.metric", "eval/f1", "eval/exact_match"]),
])
def test_bad_question_answering_settings_fail_before_any_training(overrides: list[str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config(*QA, *overrides)
    assert all(text in str(info.value) for text in expected), str(info.value)


def test_an_answer_that_is_not_where_it_says_is_named_with_its_file(tmp_path) -> None:
    bad = tmp_path / "qa.jsonl"
    bad.write_text(json.dumps({"id": "q1", "context": "Paris is in France.", "question": "Where?",
                               "answers": {"text": ["France"], "answer_start": [3]}}) + "\n")
    with pytest.raises(ConfigError, match=r"data.train_path: question q1 of .*qa.jsonl: the answer 'France' is not at character 3"):
        load_qa_splits(config(*QA, f"data.train_path={bad}")["data"])
