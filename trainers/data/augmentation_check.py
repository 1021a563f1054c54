"""The check of the ``trainer.augment`` block, owned by the augmentation feature and called by the
driver's config check (``hpo.search.config.checks``) before any trial starts.

It lives apart from ``hpo.trainers.data.augmentation`` so that the driver can import it at the top
without ``datasets``. The trials do not check again: the block they get has passed here, and its
keys and types were fixed by the schema (``AugmentSchema``), which fills in every default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.options import AUGMENT_OPS
from hpo.trainers.data.synonyms import load_synonyms

KEY = "trainer.augment"


def check_augment(augment: Mapping[str, Any]) -> None:
    """Reject a bad ``trainer.augment`` block (every key present, as the schema gives it).

    Raises:
        ConfigError: naming ``trainer.augment.<key>`` (and the synonym file where that is the fault).
    """
    ratio = augment["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio < 0:
        raise ConfigError(f"{KEY}.ratio", "must be a number >= 0 (augmented copies per training row; 0 = off)", value=ratio)
    ops = augment["ops"]
    if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops:
        raise ConfigError(f"{KEY}.ops", "must be a non-empty list of operations", value=ops, choices=AUGMENT_OPS)
    for op in ops:
        if op not in AUGMENT_OPS:
            raise ConfigError(f"{KEY}.ops", "unknown operation", value=op, choices=AUGMENT_OPS)
    fraction = augment["word_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise ConfigError(f"{KEY}.word_fraction", "must be in (0, 1] (share of a sentence's words an operation changes)", value=fraction)
    path = augment["synonyms_path"]
    if path is not None:
        if not isinstance(path, str | Path):
            raise ConfigError(f"{KEY}.synonyms_path", "must be a file path or null (the bundled table)", value=path)
        load_synonyms(str(path))
