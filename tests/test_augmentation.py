"""Text augmentation: each operation changes text as documented, labels stay exact, the ratio counts rows."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import datasets
import pytest

from hpo.errors import ConfigError
from hpo.options import AUGMENT_OPS
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.data.augmentation import augment_dataset, augment_text
from hpo.trainers.data.augmentation_check import check_augment
from hpo.trainers.data.loading import load_splits
from hpo.trainers.data.synonyms import load_synonyms
from tests.conftest import SST2
from tests.helpers.config_blocks import augment_block, data_block

TABLE = {"good": ("fine", "decent"), "movie": ("film",), "plot": ("story",)}
SENTENCE = "a good movie with a thin plot and great acting overall"


def rows(n: int, pair: bool = False, float_labels: bool = False) -> datasets.Dataset:
    data: dict[str, list] = {
        "text": [f"row{i} : a good movie , the plot was {i % 7} times funny" for i in range(n)],
        "label": [i * 0.37 for i in range(n)] if float_labels else [i % 3 for i in range(n)],
    }
    if pair:
        data["text_pair"] = [f"the film number {i} is great" for i in range(n)]
    return datasets.Dataset.from_dict(data)


@pytest.mark.parametrize("seed", range(5))
def test_swap_keeps_the_multiset_of_words(seed: int) -> None:
    out = augment_text(SENTENCE, "swap", 0.2, TABLE, random.Random(seed))
    assert out != SENTENCE and Counter(out.split()) == Counter(SENTENCE.split())


@pytest.mark.parametrize("seed", range(5))
def test_delete_removes_words_in_order(seed: int) -> None:
    words = SENTENCE.split()
    out = augment_text(SENTENCE, "delete", 0.2, TABLE, random.Random(seed)).split()
    assert len(out) == len(words) - 2  # 20% of 11 words, rounded
    remaining = iter(words)
    assert all(w in remaining for w in out)  # a subsequence: nothing moved or added


def test_delete_never_removes_every_word() -> None:
    for seed in range(20):
        assert augment_text("great", "delete", 1.0, TABLE, random.Random(seed)) == "great"
        assert len(augment_text("truly great film", "delete", 1.0, TABLE, random.Random(seed)).split()) == 1


@pytest.mark.parametrize("seed", range(5))
def test_insert_adds_a_synonym_of_a_word_in_the_sentence(seed: int) -> None:
    out = augment_text(SENTENCE, "insert", 0.1, TABLE, random.Random(seed)).split()
    added = Counter(out) - Counter(SENTENCE.split())
    assert sum(added.values()) == 1 and len(out) == len(SENTENCE.split()) + 1
    assert next(iter(added)) in {"fine", "decent", "film", "story"}
    assert Counter(SENTENCE.split()) - Counter(out) == Counter()  # nothing removed


@pytest.mark.parametrize("seed", range(5))
def test_synonym_replaces_words_with_table_synonyms(seed: int) -> None:
    before = SENTENCE.split()
    after = augment_text(SENTENCE, "synonym", 0.2, TABLE, random.Random(seed)).split()
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 2
    assert all(a in TABLE[b] for b, a in changed)


def test_synonym_keeps_punctuation_and_capitals() -> None:
    assert augment_text("Good, MOVIE!", "synonym", 1.0, TABLE, random.Random(0)) in {"Fine, FILM!", "Decent, FILM!"}


def test_operations_leave_what_they_cannot_change() -> None:
    for op in ("insert", "synonym"):
        assert augment_text("nothing here matches", op, 1.0, TABLE, random.Random(0)) == "nothing here matches"
    assert augment_text("alone", "swap", 1.0, TABLE, random.Random(0)) == "alone"
    assert augment_text("", "delete", 1.0, TABLE, random.Random(0)) == ""


@pytest.mark.parametrize(("ratio", "added"), [(0.5, 50), (1, 100), (2.0, 200), (2.5, 250), (0.01, 1)])
def test_ratio_controls_the_number_of_added_rows(ratio: float, added: int) -> None:
    train = rows(100)
    out, counts = augment_dataset(train, augment_block(ratio=ratio), seed=0)
    assert counts["data/augmented_rows"] == added
    assert counts["data/train_rows_after_augment"] == len(out) == 100 + added
    assert out.select(range(100))["text"] == train["text"]  # the original rows first, untouched


def test_half_ratio_copies_half_the_rows_once() -> None:
    out, _ = augment_dataset(rows(100), augment_block(ratio=0.5, ops=["swap"]), seed=0)
    sources = Counter(next(w for w in t.split() if w.startswith("row")) for t in out.select(range(100, 150))["text"])
    assert len(out) == 150 and len(sources) == 50  # swap keeps each row's own word: 50 distinct rows


@pytest.mark.parametrize("augment", [{}, {"ratio": 0}, {"ratio": 0.0, "ops": ["swap"]}])
def test_off_returns_the_dataset_unchanged_and_no_counts(augment: dict) -> None:
    train = rows(10)
    out, counts = augment_dataset(train, augment_block(**augment), seed=0)
    assert out is train and counts == {}


@pytest.mark.parametrize("float_labels", [False, True])
def test_labels_are_preserved_exactly(float_labels: bool) -> None:
    train = rows(60, pair=True, float_labels=float_labels)
    out, _ = augment_dataset(train, augment_block(ratio=2.0, word_fraction=0.5), seed=3)
    assert out.features == train.features
    for index in range(60, len(out)):
        source = index // 2 - 30  # two copies of each row, in row order
        assert out[index]["label"] == train[source]["label"]
    assert Counter(out["label"]) == Counter(list(train["label"]) * 3)


def test_text_pair_gets_the_same_operation() -> None:
    train = rows(40, pair=True)
    out, _ = augment_dataset(train, augment_block(ratio=1.0, ops=["delete"], word_fraction=0.3), seed=0)
    for before, after in zip(train, out.select(range(40, 80)), strict=True):
        assert len(after["text"].split()) < len(before["text"].split())
        assert len(after["text_pair"].split()) < len(before["text_pair"].split())


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    train = rows(50)
    options = augment_block(ratio=1.5, ops=list(AUGMENT_OPS), word_fraction=0.3)
    a, _ = augment_dataset(train, options, seed=7)
    b, _ = augment_dataset(train, options, seed=7)
    c, _ = augment_dataset(train, options, seed=8)
    state = random.getstate()
    assert a["text"] == b["text"] and a["text"] != c["text"]
    assert random.getstate() == state  # the global RNG is left alone


def test_user_synonym_file(tmp_path: Path) -> None:
    path = tmp_path / "syn.tsv"
    path.write_text("# my table\nplot\tstory,storyline\n\nfunny,amusing\n", encoding="utf-8")
    assert load_synonyms(str(path)) == {"plot": ("story", "storyline"), "funny": ("amusing",)}
    out, counts = augment_dataset(rows(20), augment_block(ratio=1, ops=["synonym"], word_fraction=1.0, synonyms_path=str(path)), seed=0)
    for text in out.select(range(20, 40))["text"]:
        words = text.split()
        assert words[7] in {"story", "storyline"} and words[-1] == "amusing" and "good" in words  # not in this table
    assert counts["data/augmented_unchanged"] == 0
    path.write_text("plot\tintrigue\n", encoding="utf-8")  # an edited file is read again
    out, _ = augment_dataset(rows(5), augment_block(ratio=1, ops=["synonym"], word_fraction=1.0, synonyms_path=str(path)), seed=0)
    assert all(t.split()[7] == "intrigue" for t in out.select(range(5, 10))["text"])


@pytest.mark.parametrize(
    ("augment", "key", "message"),
    [
        ({"ratio": 1, "ops": ["swap", "shuffle"]}, "trainer.augment.ops", "shuffle.*Valid choices: swap, delete, insert, synonym"),
        ({"ratio": 1, "ops": "swap"}, "trainer.augment.ops", "non-empty list"),
        ({"ratio": 1, "ops": []}, "trainer.augment.ops", "non-empty list"),
        ({"ratio": -0.5}, "trainer.augment.ratio", ">= 0.*-0.5"),
        ({"ratio": "lots"}, "trainer.augment.ratio", ">= 0"),
        ({"ratio": 1, "word_fraction": 0}, "trainer.augment.word_fraction", r"\(0, 1\]"),
        ({"ratio": 1, "word_fraction": 1.5}, "trainer.augment.word_fraction", r"\(0, 1\].*1.5"),
    ],
)
def test_bad_options_name_the_key(augment: dict, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        check_augment(augment_block(**augment))
    assert error.value.key == key


def test_unknown_keys_are_rejected_by_the_schema() -> None:
    """The block's keys are the schema's (AugmentSchema); the check and the trials never see another."""
    with pytest.raises(ConfigError, match=r"unknown key.*Valid choices: ratio, ops, word_fraction, synonyms_path") as error:
        resolve(compose_config("demo", ["+trainer.augment.rate=2"]))
    assert error.value.key == "trainer.augment.rate"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "holds no synonyms"),
        ("# only a comment\n\n", "holds no synonyms"),
        ("good\tfine\nlonelyword\n", "line 2: expected 'word<TAB>synonym1"),
        ("good\t\n", "line 1"),
        ("good\tfine,,nice\n", "line 1"),
        (b"good\tf\xffine\n", "not valid UTF-8"),
    ],
)
def test_bad_synonym_files_name_the_key_and_the_file(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "synonyms.tsv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        check_augment(augment_block(ratio=1, synonyms_path=str(path)))
    assert error.value.key == "trainer.augment.synonyms_path"
    assert str(path) in str(error.value)


def test_bundled_table_is_well_formed() -> None:
    table = load_synonyms()
    assert len(table) > 300
    for word in ("good", "bad", "movie", "funny", "boring", "story", "great"):
        assert table[word]
    assert all(word not in synonyms for word, synonyms in table.items())


def test_real_sst2_rows_are_augmented_with_the_bundled_table() -> None:
    splits = load_splits(data_block(
        format="tsv", train_path=str(SST2 / "train.tsv"), eval_path=str(SST2 / "validation.tsv"),
        text_column="sentence", label_column="label", max_train_samples=400, max_eval_samples=20,
    ))
    train = splits.train
    out, counts = augment_dataset(train, augment_block(ratio=1.0, ops=["synonym"]), seed=0)
    changed = sum(a.split() != b.split() for a, b in zip(train["text"], out.select(range(400, 800))["text"], strict=True))
    assert changed / 400 > 0.3
    assert counts["data/augmented_unchanged"] == 400 - changed
    assert out.select(range(400, 800))["label"] == train["label"]
    mixed, counts = augment_dataset(train, augment_block(ratio=0.5), seed=0)
    assert counts["data/augmented_rows"] == 200 and len(mixed) == 600
