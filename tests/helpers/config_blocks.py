"""Complete config blocks for tests that call trial code directly.

The trial code reads every key of its block (the schema fills in the defaults on the driver), so a
hand-built block must be complete. These build it from the schema's dataclasses with the test's
values on top, so that no default is written a second time in the tests.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hpo.search.config.schema import (
    AugmentSchema,
    CleaningSchema,
    DataSchema,
    DomainAdaptationSchema,
    ModelSchema,
)


def block(schema: type, **values: Any) -> dict[str, Any]:
    """``schema``'s defaults with ``values`` on top; a nested block given as a dict is merged the same way."""
    out = asdict(schema())
    for key, value in values.items():
        if key not in out:
            raise KeyError(f"{schema.__name__} has no key {key!r}")
        out[key] = {**out[key], **value} if isinstance(out[key], dict) and isinstance(value, dict) else value
    return out


def data_block(**values: Any) -> dict[str, Any]:
    return block(DataSchema, **values)


def clean_block(**values: Any) -> dict[str, Any]:
    return block(CleaningSchema, **values)


def augment_block(**values: Any) -> dict[str, Any]:
    return block(AugmentSchema, **values)


def adapt_block(**values: Any) -> dict[str, Any]:
    return block(DomainAdaptationSchema, **values)


def model_block(**values: Any) -> dict[str, Any]:
    return block(ModelSchema, **values)
