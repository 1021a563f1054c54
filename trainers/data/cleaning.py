"""Data cleaning before training: text normalisation, filters, deduplication, leakage counts.

Each step is optional (``data.clean.*``) and counted, and the counts are reported with every
evaluation (``data/...``), so a sweep's results say what the model was trained on. Real data
needs this: SST-2's train and validation files share thousands of (near-)identical phrases.

The options come complete from the schema (``CleaningSchema`` holds the defaults; the data
options compose them through the ``data/clean`` config group) and were checked on the driver.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

import datasets

from hpo.trainers.data.columns import column_values

URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]+>")
SPACES = re.compile(r"\s+")
NOT_WORD = re.compile(r"[^\w\s]", re.UNICODE)
# A small English stop-word list (the most frequent function words), enough for bag-of-words noise.
STOP_WORDS = frozenset(["a", "an", "the", "and", "or", "but", "if", "then", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should", "now", "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "would", "could"])

def clean_text(text: str, options: dict[str, Any]) -> str:
    """One text through the configured normalisation steps."""
    if options["strip_html"]:
        text = html.unescape(HTML_TAG.sub(" ", text))
    if options["strip_urls"]:
        text = URL.sub(" ", text)
    if options["normalize"]:
        text = SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    if options["lowercase"]:
        text = text.lower()
    if options["remove_stopwords"]:
        text = " ".join(w for w in text.split() if w.lower() not in STOP_WORDS)
    return text


def near_key(text: str, pair: str | None = None) -> str:
    """What two near-duplicates share: lower case, no punctuation, single spaces."""
    joined = text if pair is None else f"{text} [SEP] {pair}"
    return SPACES.sub(" ", NOT_WORD.sub(" ", unicodedata.normalize("NFKC", joined).lower())).strip()


def _exact_key(text: str, pair: str | None = None) -> str:
    return text if pair is None else f"{text}\x00{pair}"


def clean_splits(
    train: datasets.Dataset, evaluation: datasets.Dataset, options: dict[str, Any]
) -> tuple[datasets.Dataset, datasets.Dataset, dict[str, int]]:
    """Clean both splits, filter and deduplicate the training rows, count and optionally drop leaks.

    Args:
        options: the ``data.clean`` block; ``dedup`` is one of ``hpo.options.DEDUP``.

    Returns:
        The cleaned splits and the counts of what each step did.
    """
    report = {"data/train_rows_raw": len(train), "data/eval_rows_raw": len(evaluation)}
    has_pair = "text_pair" in train.column_names

    def clean(batch: dict[str, list]) -> dict[str, list]:
        out = {"text": [clean_text(t, options) for t in batch["text"]]}
        if has_pair:
            out["text_pair"] = [clean_text(t, options) for t in batch["text_pair"]]
        return out

    train, evaluation = train.map(clean, batched=True), evaluation.map(clean, batched=True)
    lo, hi = options["min_words"], options["max_words"]
    if lo is not None or hi is not None:
        before = len(train)
        train = train.filter(lambda row: (lo is None or len(row["text"].split()) >= lo) and (hi is None or len(row["text"].split()) <= hi))
        report["data/removed_by_length"] = before - len(train)
    train = train.filter(lambda row: bool(row["text"]))  # nothing left to learn from
    key = near_key if options["dedup"] == "near" else _exact_key

    def keys(dataset: datasets.Dataset) -> list[str]:
        pairs = column_values(dataset, "text_pair") if has_pair else [None] * len(dataset)
        return [key(t, p) for t, p in zip(column_values(dataset, "text"), pairs, strict=True)]

    if options["dedup"] != "none":
        seen: set[str] = set()
        first = []
        for i, k in enumerate(keys(train)):
            if k not in seen:
                seen.add(k)
                first.append(i)
        report["data/duplicates_removed"] = len(train) - len(first)
        train = train.select(first)
    train_keys = set(keys(train))
    leaked = [k in train_keys for k in keys(evaluation)]
    report["data/leaked_eval_rows"] = sum(leaked)
    if options["drop_leaked"]:
        evaluation = evaluation.select([i for i, is_leak in enumerate(leaked) if not is_leak])
    report["data/train_rows"], report["data/eval_rows"] = len(train), len(evaluation)
    return train, evaluation, report
