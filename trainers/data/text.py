"""Unlabelled text for causal language modelling: a plain-text file or a text column, cut into blocks.

Plain text loads through ``datasets``' own ``text`` builder, one row per paragraph; TSV, CSV,
JSONL and Parquet files give their ``data.text_column``. Without an evaluation file the last
``data.validation_fraction`` of the rows is held out in order, not shuffled: neighbouring
paragraphs of a book share names and phrasing, so a random split would leak.

The ``data`` block comes complete from the schema (``DataSchema``), its format one of
``hpo.options.LM_FORMATS`` for a causal-LM task and ``validation_fraction`` in range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from hpo.errors import ConfigError
from hpo.options import TEXT_FORMAT
from hpo.trainers.data.cleaning import clean_splits
from hpo.trainers.data.demo import make_demo_split
from hpo.trainers.data.loading import LabelledSplits, load_file


def load_text_splits(data: dict[str, Any], seed: int = 0, with_test: bool = False) -> LabelledSplits:
    """Train and evaluation datasets with one column, ``text`` (no labels), and the test split with
    ``with_test``. A ``data.test_fraction`` is the last share of the training rows, held out (in
    order, as the validation rows are) whether or not ``with_test`` asks for it.

    Raises:
        ConfigError: a missing or malformed file, a missing column, no text.
    """
    fmt = data["format"]
    datasets.disable_progress_bars()
    test = None
    if fmt == "demo":
        train = datasets.Dataset.from_dict({"text": make_demo_split(data["num_train"], seed=seed + 1)["text"]})
        evaluation = datasets.Dataset.from_dict({"text": make_demo_split(data["num_eval"], seed=seed + 2)["text"]})
    else:
        train = _texts(load_file(fmt, data["train_path"], "data.train_path"), data, fmt, data["train_path"], "data.train_path")
        evaluation = None
        if data["eval_path"]:
            evaluation = _texts(load_file(fmt, data["eval_path"], "data.eval_path"), data, fmt, data["eval_path"], "data.eval_path")
        if with_test and data["test_path"]:
            test = _texts(load_file(fmt, data["test_path"], "data.test_path"), data, fmt, data["test_path"], "data.test_path")
    if data["test_fraction"] is not None:
        train, test = tail_split(train, data["test_fraction"], "data.test_fraction")
    if evaluation is None:
        train, evaluation = tail_split(train, data["validation_fraction"], "data.validation_fraction")
    if data["max_train_samples"]:
        train = train.select(range(min(len(train), data["max_train_samples"])))
    if data["max_eval_samples"]:
        evaluation = evaluation.select(range(min(len(evaluation), data["max_eval_samples"])))
    cleaned_train, evaluation, report = clean_splits(train, evaluation, data["clean"])
    if len(cleaned_train) == 0 or len(evaluation) == 0:
        raise ConfigError("data.train_path" if len(cleaned_train) == 0 else "data.eval_path", "no text left after loading and cleaning", value=report)
    if with_test and test is not None:
        if data["max_test_samples"]:
            test = test.select(range(min(len(test), data["max_test_samples"])))
        _, test, _ = clean_splits(train, test, data["clean"])
    return LabelledSplits(cleaned_train, evaluation, [], report, test if with_test else None)


def _texts(dataset: datasets.Dataset, data: dict[str, Any], fmt: str, path: str, key: str) -> datasets.Dataset:
    file = Path(path).expanduser().resolve()
    column = "text" if fmt in TEXT_FORMAT else data["text_column"]
    if column not in dataset.column_names:
        raise ConfigError("data.text_column", f"column not found in {file}", value=column, choices=dataset.column_names)
    dataset = dataset.select_columns([column]).rename_columns({column: "text"} if column != "text" else {})
    dataset = dataset.filter(lambda row: bool(row["text"] and row["text"].strip()))
    if len(dataset) == 0:
        raise ConfigError(key, f"no text in {file} (only blank lines)")
    return dataset


def tail_split(train: datasets.Dataset, fraction: float, key: str) -> tuple[datasets.Dataset, datasets.Dataset]:
    held_out = max(1, round(len(train) * fraction))
    if held_out >= len(train):
        raise ConfigError(key, f"cannot hold out {held_out} of {len(train)} rows", value=fraction)
    cut = len(train) - held_out
    return train.select(range(cut)), train.select(range(cut, len(train)))


def to_blocks(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, block_size: int) -> list[dict[str, list[int]]]:
    """Tokenise every row, join them with the end-of-text (or separator) token and cut equal blocks.

    Equal blocks waste no compute on padding, and every token is predicted from up to
    ``block_size`` tokens of context, as in GPT-2's own training. A remainder shorter than a
    block is dropped; a text shorter than one block still gives one (shorter) block.
    """
    separator = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    ids: list[int] = []
    for encoded in tokenizer(list(dataset["text"]), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        if separator is not None:
            ids.append(separator)
    if len(ids) < 2:
        raise ConfigError("data.train_path", "the text has fewer than 2 tokens")
    if len(ids) < block_size:
        return [{"input_ids": ids}]
    return [{"input_ids": ids[i:i + block_size]} for i in range(0, len(ids) - block_size + 1, block_size)]


def split_and_subsample(
    train: datasets.Dataset, evaluation: datasets.Dataset | None, test: datasets.Dataset | None, data: dict[str, Any],
    seed: int, with_test: bool,
) -> tuple[datasets.Dataset, datasets.Dataset, datasets.Dataset | None]:
    """The splits of a file-based task whose rows carry no class (conversations, questions): the test
    share and, without an evaluation file, the validation share held out of the training rows' tail
    (in order: neighbouring rows share articles and dialogues), then the seeded subsets."""
    if data["test_fraction"] is not None:
        train, test = tail_split(train, data["test_fraction"], "data.test_fraction")
    if evaluation is None:
        train, evaluation = tail_split(train, data["validation_fraction"], "data.validation_fraction")
    train = _subset(train, data["max_train_samples"], seed)
    evaluation = _subset(evaluation, data["max_eval_samples"], seed)
    test = _subset(test, data["max_test_samples"], seed) if with_test and test is not None else None
    return train, evaluation, test


def _subset(rows: datasets.Dataset, size: int | None, seed: int) -> datasets.Dataset:
    return rows.shuffle(seed=seed).select(range(size)) if size and size < len(rows) else rows

