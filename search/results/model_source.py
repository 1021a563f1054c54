"""Which model and which config a path names, for the commands that use a trained model (evaluate, predict).

Users point at whatever they have at hand: the sweep folder (its winner), an exported bundle
(``best/``, ``top/rank-<n>-<id>/``), the ``model/`` folder inside one, a trial's checkpoint, or
``hpo train``'s output. Each holds, or sits beside, the full config the model was trained with,
which says how to read data for it (columns, label mapping, cleaning, sequence length).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError
from hpo.layout import (
    BEST_DIR,
    CHECKPOINT_METADATA_FILE,
    CONFIG_FILE,
    EVALUATIONS_DIR,
    EXPORT_MODEL_DIR,
    TRAIN_CHECKPOINT_DIR,
    TRIALS_DIR,
    read_checkpoint_metadata,
)
from hpo.search.config.schema import with_defaults


@dataclass
class ModelSource:
    """A trained model folder (``save_pretrained`` files, or a LoRA adapter) and the config it was trained with."""

    model_dir: Path
    config: dict[str, Any]
    label: str  # how messages name it: "the best trial of <sweep>", "<folder>"
    bundle: Path | None = None  # the exported bundle (best/, top/rank-<n>-<id>/) the model is in

    @property
    def task(self) -> str:
        return self.config["trainer"]["task"]

    def evaluations_dir(self, data_file: str | Path) -> Path:
        """Where ``hpo evaluate`` writes by default: ``<sweep>/evaluations/<bundle>/<file stem>/`` for an
        exported bundle (outside it: ``hpo export`` rewrites bundles), else beside the model folder."""
        stem = Path(data_file).stem
        if self.bundle is not None:
            sweep = next((p for p in self.bundle.parents if (p / CONFIG_FILE).is_file() and (p / TRIALS_DIR).is_dir()), None)
            if sweep is not None:
                return sweep / EVALUATIONS_DIR / self.bundle.name / stem
        return self.model_dir.parent / EVALUATIONS_DIR / stem


def resolve_model_source(path: str | Path) -> ModelSource:
    """The model and config ``path`` names.

    Raises:
        ConfigError: ``path`` is missing, or none of the folders above (naming what each would hold).
    """
    given = Path(path).expanduser().resolve()
    if not given.exists():
        raise ConfigError("model", "no such folder", value=str(given))
    if not given.is_dir():
        raise ConfigError("model", "not a folder: give a sweep folder, an exported bundle or a model folder", value=str(given))
    if (given / BEST_DIR / EXPORT_MODEL_DIR).is_dir() and (given / BEST_DIR / CONFIG_FILE).is_file():
        return _bundle(given / BEST_DIR, f"the best trial of sweep {given}")
    if (given / EXPORT_MODEL_DIR).is_dir() and (given / CONFIG_FILE).is_file():
        return _bundle(given, str(given))
    for folder in (given, given / TRAIN_CHECKPOINT_DIR):
        config = read_checkpoint_metadata(folder).get("config")
        if isinstance(config, dict):
            return ModelSource(folder, with_defaults(config), str(folder))
    if (given.parent / CONFIG_FILE).is_file() and given.name == EXPORT_MODEL_DIR:
        return _bundle(given.parent, str(given.parent))
    raise ConfigError(
        "model", "not a model folder: expected a sweep folder (with best/), an exported bundle (config.yaml and model/), "
        f"a model/ folder of one, or a checkpoint holding {CHECKPOINT_METADATA_FILE} (a trial's, or hpo train's checkpoint/)",
        value=str(given))


def _bundle(bundle: Path, label: str) -> ModelSource:
    config = yaml.safe_load((bundle / CONFIG_FILE).read_text())
    if not isinstance(config, dict):
        raise ConfigError("model", f"{bundle / CONFIG_FILE} is not a config mapping", value=str(bundle))
    return ModelSource(bundle / EXPORT_MODEL_DIR, with_defaults(config), label, bundle)


# column keys whose override names the file's column (the training file keeps the model's names)
FILE_COLUMN_KEYS = ("text_column", "text_pair_column", "label_column")
TEST_COLUMNS_KEY = "test_columns"  # in the data block given to the loaders: {file's column: model's column}

# a data file's format as its name suggests it, to catch a file in another format than the sweep's before reading it
FORMAT_BY_SUFFIX = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".txt": "text"}


def with_data_file(config: dict[str, Any], data_file: str | Path, overrides: list[str]) -> dict[str, Any]:
    """``config`` reading every row of ``data_file`` as its test rows, with ``data.<key>=<value>``
    overrides. The file is read as the model's training data was (its format, columns, label mapping
    and cleaning): the training rows map the file's labels. ``data.text_column``, ``text_pair_column``
    and ``label_column`` name the file's own columns (renamed to the model's in the file's rows only).

    Raises:
        ConfigError: the file is missing or a folder; the model was trained on generated or Hub data;
            the file's name says another format; an override names no key of the data block.
    """
    file = Path(data_file).expanduser().resolve()
    if file.is_dir():
        raise ConfigError("--data", "is a folder, not a data file", value=str(file))
    if not file.is_file():
        raise ConfigError("--data", "file not found", value=str(file))
    data = dict(config["data"])
    for override in overrides:
        key, sep, value = override.partition("=")
        name = key.removeprefix("data.")
        if not sep or not key.startswith("data.") or name not in data or isinstance(data[name], dict):
            raise ConfigError(key or override, "expected data.<key>=<value> naming a key of the data block",
                              choices=[f"data.{k}" for k in data if not isinstance(data[k], dict)])
        if name in FILE_COLUMN_KEYS:  # the file's own name for a column the model reads: renamed in the file only
            if data[name] is None:
                raise ConfigError(key, "the model reads no such column", value=value)
            data[TEST_COLUMNS_KEY] = {**data.get(TEST_COLUMNS_KEY, {}), str(yaml.safe_load(value)): data[name]}
        else:
            data[name] = yaml.safe_load(value)
    if data["format"] in ("demo", "hub"):
        raise ConfigError("data.format", f"the model was trained on {data['format']} data, which gives no file format or "
                          "column mapping to read a file with: give data.format, data.train_path and the column keys as overrides",
                          value=data["format"])
    suggested = FORMAT_BY_SUFFIX.get(file.suffix.lower())
    if suggested is not None and suggested != data["format"] and not (data["format"] == "squad" and file.suffix == ".json"):
        raise ConfigError("--data", f"the model's data is read as {data['format']} (data.format), but {file.name} looks like "
                          f"{suggested}: give a {data['format']} file", value=str(file))
    data.update(test_path=str(file), test_split=None, test_fraction=None, max_test_samples=None)
    return {**config, "data": data}


PREDICTION_FORMATS = (".csv", ".jsonl")  # hpo predict's output files


def check_prediction_file(path: str | Path) -> Path:
    """``hpo predict``'s output path, resolved, once its suffix is one it writes.

    Raises:
        ConfigError: naming ``--out`` and the suffixes it takes.
    """
    out = Path(path).expanduser().resolve()
    if out.suffix.lower() not in PREDICTION_FORMATS:
        raise ConfigError("--out", "write predictions to a .csv or .jsonl file", value=str(out), choices=list(PREDICTION_FORMATS))
    if out.is_dir():
        raise ConfigError("--out", "is a folder: name the file to write", value=str(out))
    return out
