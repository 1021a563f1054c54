"""The synonym table of text augmentation (``trainer.augment.synonyms_path``).

Kept apart from ``hpo.trainers.data.augmentation`` and free of ``datasets``: the driver's config
check (``check_augment``) reads a user's table before any trial starts, and should not pay for
importing the data libraries to do it.

Format (UTF-8), one entry a line; blank lines and lines starting with ``#`` are skipped::

    good<TAB>fine,nice,decent
    movie,film,picture          (no tab: comma-separated, the first field is the word)

Words are matched case-insensitively; a synonym may hold several words (``a lot``). The table is
used as written: list a pair in both directions to make it symmetric.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from hpo.errors import ConfigError

KEY = "trainer.augment.synonyms_path"

SynonymTable = dict[str, tuple[str, ...]]


def load_synonyms(path: str | None = None) -> SynonymTable:
    """The synonym table: the bundled one for None, else the user's file.

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8, empty or has a malformed line.
    """
    if path is None:
        return _bundled_synonyms()
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(KEY, "no such file", value=str(file))
    stat = file.stat()  # a reused trial worker re-reads a file edited since it was cached
    return _file_synonyms(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


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
                KEY,
                f"{where} line {number}: expected 'word<TAB>synonym1,synonym2,...' (or 'word,synonym1,...')",
                value=line,
            )
        known = table.setdefault(word, [])
        known += [s for s in synonyms if s != word and s not in known]
    table = {w: s for w, s in table.items() if s}
    if not table:
        raise ConfigError(KEY, f"{where} holds no synonyms", value=where)
    return {w: tuple(s) for w, s in table.items()}


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
        raise ConfigError(KEY, f"{file} is not valid UTF-8 ({error.reason} at byte {error.start})", value=str(file)) from None
    except OSError as error:
        raise ConfigError(KEY, f"cannot read {file}: {error.strerror}", value=str(file)) from None
    return _parse_synonyms(text, str(file))
