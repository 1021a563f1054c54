"""Class imbalance: class-weighted loss, and random over- or undersampling of the training rows.

Only the training rows are touched; evaluation data keeps its real class balance.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import torch

from hpo.errors import ConfigError
from hpo.options import CLASS_WEIGHTS, RESAMPLING


def resample(rows: list[dict[str, Any]], how: str, seed: int) -> list[dict[str, Any]]:
    """Equal class counts by repeating minority rows (oversample) or dropping majority rows (undersample)."""
    if how not in RESAMPLING:
        raise ConfigError("trainer.resample", "unknown option", value=how, choices=RESAMPLING)
    if how == "none":
        return rows
    by_label: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_label.setdefault(row["labels"], []).append(row)
    rng = random.Random(seed)
    target = max(map(len, by_label.values())) if how == "oversample" else min(map(len, by_label.values()))
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
    if how not in CLASS_WEIGHTS:
        raise ConfigError("trainer.class_weights", "unknown option", value=how, choices=CLASS_WEIGHTS)
    if how == "none":
        return None
    counts = Counter(row["labels"] for row in rows)
    return torch.tensor([len(rows) / (num_labels * counts[c]) if counts[c] else 0.0 for c in range(num_labels)])
