"""Reading a whole column of a ``datasets.Dataset`` at Arrow speed."""

from __future__ import annotations

from typing import Any

import datasets


def column_values(dataset: datasets.Dataset, name: str) -> list[Any]:
    """A column as a Python list, read through Arrow in one call.

    ``dataset[name]`` is a lazy column whose iteration formats one row at a time: checking the
    labels of SST-2's 67k rows that way took 15 s per load, against milliseconds through Arrow.
    """
    return dataset.with_format("arrow")[name].to_pylist()
