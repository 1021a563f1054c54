"""Dotted config keys (``trainer.learning_rate``) read from and written into plain nested dicts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hpo.errors import ConfigError


def get_by_path(tree: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key; ``KeyError`` if any part is missing."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def apply_params(base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each sampled ``{dotted key: value}`` set.

    Raises:
        ConfigError: a key that the config does not have (a typo in the search space).
    """
    tree = copy.deepcopy(dict(base))
    for key, value in params.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"search_space.{key}", "no such config key")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"search_space.{key}", "no such config key", choices=sorted(node))
        node[leaf] = plain_value(value)
    return tree


# A run of ``hpo confirm`` is a Ray trial whose config is {"candidate": {"trial": id, "params": {...}}, "seed": s}:
# one sweep trial's values retrained with one seed.
CONFIRM_CANDIDATE, CONFIRM_SEED = "candidate", "seed"


def run_params(trial_config: Mapping[str, Any]) -> dict[str, Any]:
    """A Ray trial's config as dotted config keys: its searched values, or for a run of ``hpo confirm``
    its candidate's values with ``trainer.seed`` set to the run's seed."""
    if CONFIRM_CANDIDATE in trial_config:
        return {**trial_config[CONFIRM_CANDIDATE]["params"], "trainer.seed": trial_config[CONFIRM_SEED]}
    return dict(trial_config)


def plain_value(value: Any) -> Any:
    """A sampled value as the plain Python type the config holds: searchers built on numpy
    (ConfigSpace for BOHB, Ray's sampling) hand out ``numpy.int64`` and ``numpy.float64``, which
    torch's samplers reject as a batch size and YAML cannot write."""
    item = getattr(value, "item", None)
    return item() if callable(item) and type(value).__module__ == "numpy" else value
