"""Extractive question answering data: SQuAD-style questions, and their contexts cut into token windows.

Rows come as flat JSONL (``data.format=jsonl``: ``id``, ``context``, ``question``, ``answers`` with
``text`` and ``answer_start`` lists, empty for an unanswerable question, SQuAD 2.0's layout on the
Hub) or in SQuAD's own nested JSON (``data.format=squad``: articles, paragraphs, questions).

A context longer than ``trainer.max_seq_length`` is cut into windows that overlap by
``trainer.qa.doc_stride`` tokens (the question is repeated in each). A training window is labelled
with the answer's first and last token when it holds the whole answer, else with the first token
([CLS]), which is also the label of an unanswerable question. An evaluation window keeps, for each
context token, its character offsets, so the predicted span maps back to the context's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from hpo.errors import ConfigError
from hpo.trainers.data.loading import LabelledSplits, load_file
from hpo.trainers.data.text import split_and_subsample

COLUMNS = ("id", "context", "question", "answers")


def load_qa_splits(data: dict[str, Any], seed: int = 0, with_test: bool = False) -> LabelledSplits:
    """Train and evaluation datasets of questions (the columns in ``COLUMNS``); the test split with ``with_test``.

    Raises:
        ConfigError: a missing or malformed file, a missing column, an answer that is not in its context.
    """
    datasets.disable_progress_bars()
    train = _questions(data, "train_path")
    evaluation = _questions(data, "eval_path") if data["eval_path"] else None
    test = _questions(data, "test_path") if with_test and data["test_path"] else None
    train, evaluation, test = split_and_subsample(train, evaluation, test, data, seed, with_test)
    report = {"data/train_questions": len(train), "data/eval_questions": len(evaluation),
              "data/eval_unanswerable": sum(not a["text"] for a in evaluation["answers"])}
    return LabelledSplits(train, evaluation, [], report, test)


def _questions(data: dict[str, Any], key: str) -> datasets.Dataset:
    path = data[key]
    rows = _nested_squad(path, f"data.{key}") if data["format"] == "squad" else load_file(data["format"], path, f"data.{key}")
    missing = [c for c in COLUMNS if c not in rows.column_names]
    if missing:
        raise ConfigError(f"data.{key}", f"question-answering rows need the columns {', '.join(COLUMNS)}; missing in {path}",
                          value=missing, choices=rows.column_names)
    for row in rows:
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            if row["context"][start:start + len(text)] != text:
                raise ConfigError(f"data.{key}", f"question {row['id']} of {path}: the answer {text!r} is not at "
                                  f"character {start} of its context", value=row["context"][start:start + len(text)])
    return rows.select_columns(list(COLUMNS))


def _nested_squad(path: str, key: str) -> datasets.Dataset:
    """SQuAD's own layout (``data`` > articles > ``paragraphs`` > ``qas``) as flat rows."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ConfigError(key, "file not found", value=str(file))
    try:
        articles = json.loads(file.read_text())["data"]
        rows = [{"id": qa["id"], "title": article.get("title", ""), "context": paragraph["context"], "question": qa["question"],
                 "answers": {"text": [a["text"] for a in qa["answers"]], "answer_start": [a["answer_start"] for a in qa["answers"]]}}
                for article in articles for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(key, f"not SQuAD's nested JSON (data > paragraphs > qas) in {file}: {type(exc).__name__} {exc}") from None
    if not rows:
        raise ConfigError(key, f"no questions in {file}")
    return datasets.Dataset.from_list(rows)


def labelled_windows(rows: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int,
                     stride: int) -> tuple[list[dict[str, Any]], list[int], list[list[tuple[int, int] | None]]]:
    """Tokenised windows with ``start_positions`` and ``end_positions`` (0, the first token, where the
    window holds no answer), the question each belongs to, and each token's context offsets (None
    outside the context), which evaluation maps predicted spans back through."""
    encoded = _windows(rows, tokenizer, max_length, stride)
    windows, offsets = [], []
    for i, window_offsets in enumerate(encoded["offset_mapping"]):
        context = [t for t, s in enumerate(encoded.sequence_ids(i)) if s == 1]
        answers = rows[encoded["overflow_to_sample_mapping"][i]]["answers"]
        start = end = 0
        if answers["text"]:
            first, last = answers["answer_start"][0], answers["answer_start"][0] + len(answers["text"][0])
            if window_offsets[context[0]][0] <= first and window_offsets[context[-1]][1] >= last:
                start = next(t for t in context if window_offsets[t][1] > first)
                end = next(t for t in reversed(context) if window_offsets[t][0] < last)
        windows.append({**_model_inputs(encoded, i), "start_positions": start, "end_positions": end})
        in_context = set(context)
        offsets.append([tuple(o) if t in in_context else None for t, o in enumerate(window_offsets)])
    return windows, list(encoded["overflow_to_sample_mapping"]), offsets


def _windows(rows: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int) -> Any:
    return tokenizer([q.lstrip() for q in rows["question"]], list(rows["context"]), truncation="only_second", max_length=max_length,
                     stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)


def _model_inputs(encoded: Any, i: int) -> dict[str, list[int]]:
    return {key: encoded[key][i] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}
