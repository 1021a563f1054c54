"""Label-preserving text augmentation of the training rows (EDA, Wei & Zou 2019).

Each augmented copy of a training row applies one operation, chosen at random among
``trainer.augment.ops``, to its ``text`` (and, with the same operation, its ``text_pair``) and keeps
its label exactly:

- ``swap``: swap two random words, n times (the multiset of words is kept);
- ``delete``: delete n random words, never all of them;
- ``insert``: insert a synonym of a random word of the sentence at a random position, n times;
- ``synonym``: replace n random words that have synonyms by one of their synonyms.

n is ``word_fraction`` of the sentence's words, at least one. Synonyms come from a table: the
bundled ``trainers/data/resources/synonyms.tsv`` (hand-written, common English review and question
words, chosen so a replacement keeps the sentence's sentiment) or a user file. Only the training
split passes through here, so evaluation data is never augmented; the ratio is a plain number so
that sweeps can search it. The counts are reported with every evaluation (``data/...``).

Synonym file format (UTF-8), one entry a line; blank lines and lines starting with ``#`` are skipped::

    good<TAB>fine,nice,decent
    movie,film,picture          (no tab: comma-separated, the first field is the word)

Words are matched case-insensitively with surrounding punctuation ignored (``"Good,"`` matches
``good`` and becomes ``"Fine,"``); a synonym may hold several words (``a lot``). The table is used
as written: list a pair in both directions to make it symmetric.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import datasets

from hpo.errors import ConfigError

AUGMENT_OPS = ("swap", "delete", "insert", "synonym")
DEFAULTS: dict[str, Any] = {"ratio": 0.0, "ops": list(AUGMENT_OPS), "word_fraction": 0.1, "synonyms_path": None}
KEY = "trainer.augment"
# a word's leading punctuation, its core, and its trailing punctuation
_WORD = re.compile(r"(\W*)(.*?)(\W*)", re.DOTALL)

SynonymTable = dict[str, tuple[str, ...]]


def _options(augment: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = sorted(set(augment or {}) - set(DEFAULTS))
    if unknown:
        raise ConfigError(KEY, "unknown key", value=unknown[0], choices=sorted(DEFAULTS))
    return {**DEFAULTS, **{k: v for k, v in (augment or {}).items() if v is not None}}  # null: the default


def check_augment(augment: Mapping[str, Any] | None) -> None:
    """Reject a bad ``trainer.augment`` block before any trial starts.

    Raises:
        ConfigError: naming ``trainer.augment.<key>`` (and the synonym file where that is the fault).
    """
    options = _options(augment)
    ratio = options["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio < 0:
        raise ConfigError(f"{KEY}.ratio", "must be a number >= 0 (augmented copies per training row; 0 = off)", value=ratio)
    ops = options["ops"]
    if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops:
        raise ConfigError(f"{KEY}.ops", "must be a non-empty list of operations", value=ops, choices=AUGMENT_OPS)
    for op in ops:
        if op not in AUGMENT_OPS:
            raise ConfigError(f"{KEY}.ops", "unknown operation", value=op, choices=AUGMENT_OPS)
    fraction = options["word_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise ConfigError(f"{KEY}.word_fraction", "must be in (0, 1] (share of a sentence's words an operation changes)", value=fraction)
    path = options["synonyms_path"]
    if path is not None:
        if not isinstance(path, str | Path):
            raise ConfigError(f"{KEY}.synonyms_path", "must be a file path or null (the bundled table)", value=path)
        load_synonyms(str(path))


def _parse_synonyms(text: str, where: str) -> SynonymTable:
    table: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in line:
            word, _, rest = line.partition("\t")
            synonyms = rest.split(",")
        else:
            word, *synonyms = line.split(",")
        word = word.strip().lower()
        synonyms = [s.strip().lower() for s in synonyms]
        if not word or not synonyms or not all(synonyms):
            raise ConfigError(
                f"{KEY}.synonyms_path",
                f"{where} line {number}: expected 'word<TAB>synonym1,synonym2,...' (or 'word,synonym1,...')",
                value=line,
            )
        known = table.setdefault(word, [])
        known += [s for s in synonyms if s != word and s not in known]
    table = {w: s for w, s in table.items() if s}
    if not table:
        raise ConfigError(f"{KEY}.synonyms_path", f"{where} holds no synonyms", value=where)
    return {w: tuple(s) for w, s in table.items()}


def load_synonyms(path: str | None = None) -> SynonymTable:
    """The synonym table: the bundled one for None, else the user's file (format in the module docstring).

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8, empty or has a malformed line.
    """
    if path is None:
        return _bundled_synonyms()
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{KEY}.synonyms_path", "no such file", value=str(file))
    stat = file.stat()  # a reused trial worker re-reads a file edited since it was cached
    return _file_synonyms(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1)
def _bundled_synonyms() -> SynonymTable:
    bundled = resources.files("hpo.trainers.data") / "resources" / "synonyms.tsv"
    return _parse_synonyms(bundled.read_text(encoding="utf-8"), "the bundled synonyms.tsv")


@lru_cache(maxsize=8)
def _file_synonyms(path: str, mtime_ns: int, size: int) -> SynonymTable:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{KEY}.synonyms_path", f"{file} is not valid UTF-8 ({error.reason} at byte {error.start})", value=str(file)) from None
    except OSError as error:
        raise ConfigError(f"{KEY}.synonyms_path", f"cannot read {file}: {error.strerror}", value=str(file)) from None
    return _parse_synonyms(text, str(file))


def _split(word: str) -> tuple[str, str, str]:
    match = _WORD.fullmatch(word)
    assert match is not None  # the pattern matches every string
    prefix, core, suffix = match.groups()
    return prefix, core, suffix


def _synonyms_of(word: str, table: SynonymTable) -> tuple[str, ...]:
    return table.get(_split(word)[1].lower(), ())


def _replace(word: str, synonym: str) -> str:
    """The synonym in the word's place: its punctuation kept, and its capitalisation where it had one."""
    prefix, core, suffix = _split(word)
    if len(core) > 1 and core.isupper():
        synonym = synonym.upper()
    elif core[:1].isupper():
        synonym = synonym[:1].upper() + synonym[1:]
    return f"{prefix}{synonym}{suffix}"


def augment_text(text: str, op: str, word_fraction: float, table: SynonymTable, rng: random.Random) -> str:
    """One text through one operation; a text the operation cannot change comes back as it was.

    Words are whitespace-separated tokens and the result is joined with single spaces.
    """
    words = text.split()
    if not words:
        return text
    n = max(1, round(word_fraction * len(words)))
    if op == "swap":
        if len(words) >= 2:
            for _ in range(n):
                i, j = rng.sample(range(len(words)), 2)
                words[i], words[j] = words[j], words[i]
    elif op == "delete":
        n = min(n, len(words) - 1)  # never delete every word
        gone = set(rng.sample(range(len(words)), n))
        words = [w for i, w in enumerate(words) if i not in gone]
    elif op == "insert":
        candidates = [w for w in words if _synonyms_of(w, table)]
        for _ in range(n if candidates else 0):
            synonym = rng.choice(_synonyms_of(rng.choice(candidates), table))
            words.insert(rng.randrange(len(words) + 1), synonym)
    elif op == "synonym":
        candidates = [i for i, w in enumerate(words) if _synonyms_of(w, table)]
        rng.shuffle(candidates)
        for i in candidates[:n]:
            words[i] = _replace(words[i], rng.choice(_synonyms_of(words[i], table)))
    else:
        raise ConfigError(f"{KEY}.ops", "unknown operation", value=op, choices=AUGMENT_OPS)
    return " ".join(words)


def augment_dataset(
    train: datasets.Dataset, augment: Mapping[str, Any] | None, seed: int
) -> tuple[datasets.Dataset, dict[str, int]]:
    """The training rows followed by their augmented copies, and the counts of what was added.

    ``ratio`` copies per row: every row gets ``floor(ratio)`` copies, and ``round(frac(ratio) * rows)``
    rows drawn at random get one more (0.5 on 100 rows adds 50). Every other column, the label
    included, is copied unchanged. Deterministic for a given seed.

    Returns:
        The augmented dataset (same features) and ``data/augmented_rows``,
        ``data/augmented_unchanged`` (copies no operation could change, e.g. no word in the table)
        and ``data/train_rows_after_augment``; the dataset unchanged and no counts when off.
    """
    check_augment(augment)
    options = _options(augment)
    ratio = float(options["ratio"])
    if ratio == 0 or len(train) == 0:
        return train, {}
    table = load_synonyms(None if options["synonyms_path"] is None else str(options["synonyms_path"]))
    rng = random.Random(seed)
    whole, fraction = divmod(ratio, 1.0)
    sources = sorted([i for i in range(len(train)) for _ in range(int(whole))] + rng.sample(range(len(train)), round(fraction * len(train))))
    copies = train.select(sources).to_dict()
    text_columns = [c for c in ("text", "text_pair") if c in copies]
    unchanged = 0
    for row in range(len(sources)):
        op = rng.choice(list(options["ops"]))
        before = [str(copies[c][row]).split() for c in text_columns]
        for column in text_columns:
            if copies[column][row] is not None:
                copies[column][row] = augment_text(copies[column][row], op, options["word_fraction"], table, rng)
        unchanged += before == [str(copies[c][row]).split() for c in text_columns]
    added = datasets.Dataset.from_dict(copies, features=train.features)
    result = datasets.concatenate_datasets([train, added])
    return result, {
        "data/augmented_rows": len(added),
        "data/augmented_unchanged": unchanged,
        "data/train_rows_after_augment": len(result),
    }
