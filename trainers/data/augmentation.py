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

The synonym table's format is in ``hpo.trainers.data.synonyms``. Words are matched
case-insensitively with surrounding punctuation ignored (``"Good,"`` matches ``good`` and becomes
``"Fine,"``).

The block comes from the schema (``AugmentSchema`` fills in every default) and was checked on the
driver by ``hpo.trainers.data.augmentation_check.check_augment``; nothing here checks it again.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

import datasets

from hpo.errors import ConfigError
from hpo.options import AUGMENT_OPS
from hpo.trainers.data.synonyms import SynonymTable, load_synonyms

# a word's leading punctuation, its core, and its trailing punctuation
_WORD = re.compile(r"(\W*)(.*?)(\W*)", re.DOTALL)


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
        raise ConfigError("trainer.augment.ops", "unknown operation", value=op, choices=AUGMENT_OPS)
    return " ".join(words)


def augment_dataset(
    train: datasets.Dataset, augment: Mapping[str, Any], seed: int
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
    ratio = float(augment["ratio"])
    if ratio == 0 or len(train) == 0:
        return train, {}
    table = load_synonyms(None if augment["synonyms_path"] is None else str(augment["synonyms_path"]))
    rng = random.Random(seed)
    whole, fraction = divmod(ratio, 1.0)
    sources = sorted([i for i in range(len(train)) for _ in range(int(whole))] + rng.sample(range(len(train)), round(fraction * len(train))))
    copies = train.select(sources).to_dict()
    text_columns = [c for c in ("text", "text_pair") if c in copies]
    unchanged = 0
    for row in range(len(sources)):
        op = rng.choice(list(augment["ops"]))
        before = [str(copies[c][row]).split() for c in text_columns]
        for column in text_columns:
            if copies[column][row] is not None:
                copies[column][row] = augment_text(copies[column][row], op, augment["word_fraction"], table, rng)
        unchanged += before == [str(copies[c][row]).split() for c in text_columns]
    added = datasets.Dataset.from_dict(copies, features=train.features)
    result = datasets.concatenate_datasets([train, added])
    return result, {
        "data/augmented_rows": len(added),
        "data/augmented_unchanged": unchanged,
        "data/train_rows_after_augment": len(result),
    }
