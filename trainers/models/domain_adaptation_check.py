"""The check of the ``trainer.domain_adaptation`` block, owned by the domain-adaptation feature and
called by the driver's config check (``hpo.search.config.checks``) before any trial starts.

It lives apart from ``hpo.trainers.models.domain_adaptation`` so that the driver imports neither
torch nor transformers to run it, and can therefore check the block in every sweep, also when
``enabled`` is false: a sweep that searches ``enabled`` fails up front, not in the trials that
switch it on. The keys, their types and their defaults are the schema's (``DomainAdaptationSchema``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.options import FILE_FORMATS

KEY = "trainer.domain_adaptation"
# File suffix -> the format name hpo.trainers.data.loading.load_file reads; .txt is one text per line.
TABULAR_SUFFIXES = {f".{fmt}": fmt for fmt in FILE_FORMATS}
SUFFIXES = (".txt", *TABULAR_SUFFIXES)


def check_domain_adaptation(adapt: dict[str, Any]) -> None:
    """Check the ``trainer.domain_adaptation`` block (every key present, as the schema gives it).

    Raises:
        ConfigError: naming ``trainer.domain_adaptation.<key>``: a value of the wrong type or out of
            range, or a ``text_path`` that is missing, empty or of an unknown format.
    """
    if not isinstance(adapt["enabled"], bool):
        raise ConfigError(f"{KEY}.enabled", "must be true or false", value=adapt["enabled"])
    for key in ("epochs", "batch_size", "max_seq_length"):
        _check_int(key, adapt[key], minimum=1)
    if adapt["max_texts"] is not None:
        _check_int("max_texts", adapt["max_texts"], minimum=2)
    if adapt["max_seq_length"] < 4:
        raise ConfigError(f"{KEY}.max_seq_length", "must leave room for special tokens and text (>= 4)", value=adapt["max_seq_length"])
    _check_number("learning_rate", adapt["learning_rate"], lower=0.0, upper=None)
    _check_number("mlm_probability", adapt["mlm_probability"], lower=0.0, upper=1.0)
    _check_number("eval_fraction", adapt["eval_fraction"], lower=0.0, upper=0.5, lower_open=False)
    if not isinstance(adapt["text_column"], str) or not adapt["text_column"]:
        raise ConfigError(f"{KEY}.text_column", "must be a column name", value=adapt["text_column"])
    if adapt["text_path"] is not None:
        text_file(adapt["text_path"])


def text_file(path: Any) -> Path:
    """The unlabelled-text file, resolved; the trial opens it through here too, because it may run
    on another machine than the driver that checked it.

    Raises:
        ConfigError: not a path, an unknown suffix, no such file, or an empty file.
    """
    if not isinstance(path, str | Path) or not str(path):
        raise ConfigError(f"{KEY}.text_path", "must be a file path or null", value=path)
    file = Path(path).expanduser().resolve()
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{KEY}.text_path", f"unknown file format {file.suffix!r} of {file}", choices=SUFFIXES)
    if not file.is_file():
        raise ConfigError(f"{KEY}.text_path", "file not found", value=str(file))
    if file.stat().st_size == 0:
        raise ConfigError(f"{KEY}.text_path", "file is empty", value=str(file))
    return file


def _check_int(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{KEY}.{key}", f"must be an integer >= {minimum}", value=value)


def _check_number(key: str, value: Any, lower: float, upper: float | None, lower_open: bool = True) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lower if lower_open else value >= lower) and (upper is None or value < upper)
    if not ok:
        bounds = f"{'(' if lower_open else '['}{lower}, {upper if upper is not None else 'inf'})"
        raise ConfigError(f"{KEY}.{key}", f"must be a number in {bounds}", value=value)
