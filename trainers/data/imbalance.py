"""Class imbalance: class-weighted loss, and random over- or undersampling of the training rows.

Only the training rows are touched; evaluation data keeps its real class balance. The choices
(``hpo.options.RESAMPLING``, ``CLASS_WEIGHTS``) were checked by the schema on the driver.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import torch

# the size every class is brought to, from the class counts
TARGET_SIZE = {"oversample": max, "undersample": min}


def resample(rows: list[dict[str, Any]], how: str, seed: int) -> list[dict[str, Any]]:
    """Equal class counts by repeating minority rows (oversample) or dropping majority rows (undersample)."""
    if how == "none":
        return rows
    by_label: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_label.setdefault(row["labels"], []).append(row)
    rng = random.Random(seed)
    target = TARGET_SIZE[how](map(len, by_label.values()))
    out: list[dict[str, Any]] = []
    for label in sorted(by_label):
        group = by_label[label]
        if how == "oversample":
            out += group + [rng.choice(group) for _ in range(target - len(group))]
        else:
            out += rng.sample(group, target)
    rng.shuffle(out)
    return out


def class_weights(rows: list[dict[str, Any]], how: str, num_labels: int) -> torch.Tensor | None:
    """``balanced``: n / (k * count(c)), as scikit-learn defines it; None for ``none``."""
    if how == "none":
        return None
    counts = Counter(row["labels"] for row in rows)
    return torch.tensor([len(rows) / (num_labels * counts[c]) if counts[c] else 0.0 for c in range(num_labels)])
