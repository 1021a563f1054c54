"""Loading a labelled text dataset into two ``datasets.Dataset`` splits with integer labels.

Local TSV, CSV and JSONL files load through ``datasets``' own csv and json builders, Hub
datasets by name, and the demo data from its generator. Every problem with the data (a missing
file or column, an empty file, labels that are not one type) raises ``ConfigError`` naming the
file and the column, so the driver can check the data before any trial starts.

The ``data`` block comes complete from the schema (``DataSchema``: every key present, the format
one this loader reads, ``validation_fraction`` in range); what is checked here needs the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from hpo.errors import ConfigError
from hpo.options import FILE_FORMATS, TEXT_FORMAT
from hpo.trainers.data.cleaning import clean_splits
from hpo.trainers.data.columns import column_values
from hpo.trainers.data.demo import DEMO_LABEL_NAMES, make_demo_split

LABEL_KINDS = ("classes", "numeric")


@dataclass
class LabelledSplits:
    """Train and evaluation splits with columns text, [text_pair,] label (int ids), and the test split
    when it was asked for (``with_test``): trials never load it."""

    train: datasets.Dataset
    eval: datasets.Dataset
    label_names: list[str]
    report: dict[str, int] = field(default_factory=dict)  # what cleaning did, reported as data/...
    test: datasets.Dataset | None = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def load_splits(data: dict[str, Any], seed: int = 0, labels: str = "classes", with_test: bool = False) -> LabelledSplits:
    """Load, check, subsample and label-encode the train and evaluation splits (and the test split).

    A ``data.test_fraction`` is held out of the training rows whether or not ``with_test`` asks for
    it, so the trials' training rows never include it.

    Args:
        labels: ``classes`` maps labels to ids 0..K-1; ``numeric`` (regression) keeps them as floats.
        with_test: also load the test split (``data.test_path``, ``test_split`` or ``test_fraction``).

    Raises:
        ConfigError: missing or malformed file, missing column, bad labels.
    """
    fmt = data["format"]
    datasets.disable_progress_bars()
    encode_labels = _encode_labels if labels == "classes" else _numeric_labels
    stratify = labels == "classes"
    test = None
    if fmt == "demo":
        label_names = DEMO_LABEL_NAMES
        train = datasets.Dataset.from_dict(make_demo_split(data["num_train"], seed=seed + 1))
        evaluation = datasets.Dataset.from_dict(make_demo_split(data["num_eval"], seed=seed + 2))
        train, test = _hold_out(train, data["test_fraction"], seed, stratify=False, key="data.test_fraction")
    else:
        keys = ("train_split", "eval_split", *(("test_split",) if with_test and data["test_split"] else ()))
        if fmt == "hub":
            loaded = _load_hub(data, keys)
            train, evaluation = loaded["train_split"], loaded["eval_split"]
            sources = {"train": f"{data['hub_name']}:{data['train_split']}", "eval": f"{data['hub_name']}:{data['eval_split']}"}
        else:
            train = load_file(fmt, data["train_path"], "data.train_path")
            evaluation = load_file(fmt, data["eval_path"], "data.eval_path") if data["eval_path"] else None
            sources = {"train": str(Path(data["train_path"]).expanduser().resolve())}
            sources["eval"] = str(Path(data["eval_path"]).expanduser().resolve()) if evaluation is not None else sources["train"]
        raw_train = train = _select_columns(train, data, sources["train"])
        if evaluation is None:  # no evaluation file: hold out a (stratified) share of the training rows
            train, _, label_names = encode_labels(train, train, sources)
        else:
            evaluation = _select_columns(evaluation, data, sources["eval"])
            train, evaluation, label_names = encode_labels(train, evaluation, sources)
        train, test = _hold_out(train, data["test_fraction"], seed, stratify, key="data.test_fraction")
        if evaluation is None:
            train, evaluation = _hold_out(train, data["validation_fraction"], seed, stratify, key="data.validation_fraction")
        if with_test and test is None and (data["test_path"] or data["test_split"]):
            source = f"{data['hub_name']}:{data['test_split']}" if fmt == "hub" else str(Path(data["test_path"]).expanduser().resolve())
            raw_test = loaded["test_split"] if fmt == "hub" else load_file(fmt, data["test_path"], "data.test_path")
            raw_test = rename_columns(raw_test, data.get("test_columns") or {}, source)  # hpo evaluate's column overrides
            _, test, _ = encode_labels(raw_train, _select_columns(raw_test, data, source), {"train": sources["train"], "eval": source})
    train = _subsample(train, data["max_train_samples"], seed)
    evaluation = _subsample(evaluation, data["max_eval_samples"], seed)
    cleaned_train, evaluation, report = clean_splits(train, evaluation, data["clean"])
    if len(cleaned_train) == 0:
        raise ConfigError("data.clean", "no training rows left after cleaning", value=report)
    if with_test and test is not None:  # cleaned as the evaluation rows are, against the same training rows
        _, test, _ = clean_splits(train, _subsample(test, data["max_test_samples"], seed), data["clean"])
    return LabelledSplits(cleaned_train, evaluation, label_names, report, test if with_test else None)


def _hold_out(
    train: datasets.Dataset, fraction: float | None, seed: int, stratify: bool, key: str,
) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """The training rows without a seeded (stratified) share ``fraction`` of them, and that share;
    ``fraction`` None holds nothing out."""
    if fraction is None:
        return train, None
    return _validation_split(train, fraction, seed, stratify=stratify, key=key)


def _validation_split(
    train: datasets.Dataset, fraction: float, seed: int, stratify: bool = True, key: str = "data.validation_fraction",
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Train and held-out rows, with the same class proportions when ``stratify`` (``datasets``' stratified split)."""
    try:
        parts = train.train_test_split(test_size=fraction, stratify_by_column="label" if stratify else None, seed=seed)
    except ValueError as exc:
        raise ConfigError(key, f"cannot split {len(train)} rows: {exc}", value=fraction) from None
    return parts["train"], parts["test"]


def load_file(fmt: str, path: str, key: str) -> datasets.Dataset:
    """One local data file as a ``Dataset``, every problem named with ``key`` and the file (the
    config check made sure a path is given)."""
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        raise ConfigError(key, "is a folder: name the data file in it", value=str(file))
    if not file.is_file():
        raise ConfigError(key, "file not found", value=str(file))
    if file.stat().st_size == 0:
        raise ConfigError(key, "file is empty", value=str(file))
    if fmt != "parquet":
        _check_utf8(file, key)
    builder, kwargs = {**FILE_FORMATS, **TEXT_FORMAT}[fmt]
    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its parse errors come back below
    try:
        dataset = datasets.load_dataset(builder, data_files=str(file), split="train", **kwargs)
    except Exception as exc:  # datasets raises many types for malformed files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(key, f"cannot read {file} as {fmt}: {reason}") from None
    finally:
        datasets.logging.set_verbosity(level)
    if len(dataset) == 0:
        raise ConfigError(key, "file has no rows", value=str(file))
    return dataset


def _check_utf8(file: Path, key: str) -> None:
    """Name the line of the first byte that is not UTF-8, which parsers report only vaguely."""
    with file.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(key, f"{file} is not valid UTF-8 (line {number}, byte {exc.start}); re-encode it as UTF-8") from None


def _load_hub(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, datasets.Dataset]:
    """The Hub dataset's splits named by the ``data`` keys in ``keys`` (train_split, eval_split, test_split)."""
    name, config = data["hub_name"], data["hub_config"]
    try:
        loaded = datasets.load_dataset(name, config)
    except Exception as exc:
        raise ConfigError("data.hub_name", f"cannot load {name!r} from the Hub: {exc}") from None
    splits = {}
    for key in keys:
        split = data[key]
        if split not in loaded:
            raise ConfigError(f"data.{key}", "no such split", value=split, choices=list(loaded))
        splits[key] = loaded[split]
    return splits


def rename_columns(dataset: datasets.Dataset, renames: dict[str, str], source: str) -> datasets.Dataset:
    """A file's own column names mapped to the model's: ``{file column: model column}``.

    Raises:
        ConfigError: a file column that is not in the file.
    """
    for column in renames:
        if column not in dataset.column_names:
            raise ConfigError("--data", f"column not found in {source} (a data.*_column override names it)", value=column,
                              choices=dataset.column_names)
    return dataset.rename_columns({k: v for k, v in renames.items() if k != v}) if renames else dataset


def _select_columns(dataset: datasets.Dataset, data: dict[str, Any], source: str) -> datasets.Dataset:
    """Keep and rename the configured columns to text, text_pair and label."""
    mapping = {data["text_column"]: "text", data["label_column"]: "label"}
    if data["text_pair_column"]:
        mapping[data["text_pair_column"]] = "text_pair"
    keys = {data["text_column"]: "data.text_column", data["label_column"]: "data.label_column",
            data["text_pair_column"]: "data.text_pair_column"}
    for column in mapping:
        if column not in dataset.column_names:
            raise ConfigError(keys[column], f"column not found in {source}", value=column,
                              choices=dataset.column_names)
    dataset = dataset.select_columns(list(mapping))
    for column in (data["text_column"], data["text_pair_column"]):
        if column:
            check_text_cells(column_values(dataset, column), column, keys[column], source)
    return dataset.rename_columns({k: v for k, v in mapping.items() if k != v})


def check_text_cells(values: list[Any], column: str, key: str, source: str) -> None:
    """Every text cell holds text: an empty cell reads as None, which no tokenizer or cleaning step takes.

    Raises:
        ConfigError: naming the file, the column, how many rows and the first ones (0-based, header not counted).
    """
    empty = [i for i, value in enumerate(values) if value is None]
    if empty:
        raise ConfigError(key, f"{source} has {len(empty)} row(s) with an empty {column!r} cell (rows {empty[:5]}, "
                          "counted from 0 after the header): fill or remove them", value=column)
    wrong = next((v for v in values if not isinstance(v, str)), None)
    if wrong is not None:
        raise ConfigError(key, f"{source} has a {column!r} cell that is not text ({wrong!r}): is this the text column?",
                          value=column)


def _encode_labels(
    train: datasets.Dataset, evaluation: datasets.Dataset, sources: dict[str, str]
) -> tuple[datasets.Dataset, datasets.Dataset, list[str]]:
    """Map labels to ids 0..K-1, sorted by name (strings) or value (integers)."""
    train_labels = _check_labels(column_values(train, "label"), sources["train"])
    eval_labels = _check_labels(column_values(evaluation, "label"), sources["eval"])
    train_kind, eval_kind = type(train_labels[0]).__name__, type(eval_labels[0]).__name__
    if train_kind != eval_kind:
        raise ConfigError("data.label_column", f"{sources['train']} has {train_kind} labels but {sources['eval']} has {eval_kind} labels; use one type in both")
    names = sorted(set(train_labels))
    if len(names) < 2:
        raise ConfigError("data.label_column", f"{sources['train']} has a single label {names}; classification needs two or more")
    unseen = sorted(set(eval_labels) - set(names), key=str)
    if unseen:
        raise ConfigError("data.label_column", f"{sources['eval']} has labels not in the training data",
                          value=unseen[:5], choices=names)
    index = {name: i for i, name in enumerate(names)}

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return {"label": [index[y] for y in batch["label"]]}

    features = train.features.copy()
    features["label"] = datasets.ClassLabel(names=[str(n) for n in names])
    train = train.map(encode, batched=True, features=features)
    features = evaluation.features.copy()
    features["label"] = datasets.ClassLabel(names=[str(n) for n in names])
    evaluation = evaluation.map(encode, batched=True, features=features)
    return train, evaluation, [str(n) for n in names]


def _numeric_labels(
    train: datasets.Dataset, evaluation: datasets.Dataset, sources: dict[str, str]
) -> tuple[datasets.Dataset, datasets.Dataset, list[str]]:
    """Regression targets as float32; the single "label name" is the target's column."""
    out = []
    for dataset, source in ((train, sources["train"]), (evaluation, sources["eval"])):
        values = column_values(dataset, "label")
        bad = next((y for y in values if isinstance(y, bool) or not isinstance(y, (int, float)) or y != y), None)
        if bad is not None or any(y is None for y in values):
            example = None if any(y is None for y in values) else bad
            raise ConfigError("data.label_column", f"{source} has a label that is not a number ({example!r}); "
                              "regression (trainer=regression) needs numeric labels in every row")
        features = dataset.features.copy()
        features["label"] = datasets.Value("float32")
        out.append(dataset.cast(features))
    return out[0], out[1], ["value"]


def _check_labels(labels: list[Any], source: str) -> list[Any]:
    if any(y is None for y in labels):
        raise ConfigError("data.label_column", f"{source} has rows with no label")
    kinds = {type(y).__name__ for y in labels}
    if kinds == {"str"}:  # a CSV column mixing numbers and names is read as text
        numeric = {y.strip().lstrip("-").isdigit() for y in labels}
        if len(numeric) > 1:
            kinds = {"int", "str"}
    if len(kinds) > 1 or not kinds <= {"int", "str", "bool"}:
        raise ConfigError("data.label_column", f"{source} mixes label types {sorted(kinds)}; use one type (int or str)")
    return labels


def _subsample(dataset: datasets.Dataset, limit: int | None, seed: int) -> datasets.Dataset:
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(limit))
