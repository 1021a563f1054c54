"""Search spaces written in YAML, translated to Ray Tune domains and to Optuna distributions.

A space is a nested mapping whose leaves are ``{type: ..., ...}``; the path to a leaf is the
config key it sets (``trainer.learning_rate``). Ranges are checked here, once, so that both
translations can trust them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from ray import tune

from hpo.errors import ConfigError

# type -> (required fields, optional fields)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "choice": (("values",), ()),
    "grid": (("values",), ()),
    "uniform": (("low", "high"), ()),
    "loguniform": (("low", "high"), ()),
    "int": (("low", "high"), ("step", "log")),
    "quniform": (("low", "high", "q"), ()),
}
DISCRETE = ("choice", "grid")


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: the config key it sets and its distribution."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    step: float | None = None
    log: bool = False

    @property
    def is_discrete(self) -> bool:
        return self.type in DISCRETE


def parse_space(space: Mapping[str, Any], prefix: str = "search_space") -> list[Param]:
    """Flatten and check a YAML search space.

    Raises:
        ConfigError: unknown type, missing field, or an impossible range, naming the key.
    """
    params: list[Param] = []
    for name, node in space.items():
        path = f"{prefix}.{name}"
        if not isinstance(node, Mapping):
            raise ConfigError(path, "expected a distribution such as {type: loguniform, low: 1e-5, high: 1e-3}", value=node)
        if "type" in node:
            params.append(_parse_leaf(path, node))
        else:
            params.extend(parse_space(node, path))
    return params


def _parse_leaf(path: str, node: Mapping[str, Any]) -> Param:
    kind = node["type"]
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{path}.type", "unknown distribution", value=kind, choices=DISTRIBUTIONS)
    required, optional = DISTRIBUTIONS[kind]
    for field in required:
        if node.get(field) is None:
            raise ConfigError(f"{path}.{field}", f"required for type {kind}")
    extra = set(node) - {"type", *required, *optional}
    if extra:
        raise ConfigError(path, f"unexpected field(s) {sorted(extra)} for type {kind}", choices=["type", *required, *optional])
    key = path.removeprefix("search_space.")
    if kind in DISCRETE:
        values = node["values"]
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or len(values) == 0:
            raise ConfigError(f"{path}.values", "must be a non-empty list", value=values)
        return Param(key, kind, values=tuple(values))
    low, high = _number(path, "low", node["low"]), _number(path, "high", node["high"])
    if low > high or (low == high and kind != "int"):
        raise ConfigError(path, f"low must be below high (low={low}, high={high})")
    log = kind == "loguniform" or bool(node.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{path}.low", "a log-scaled range needs bounds > 0", value=low)
    step: float | None = None
    if kind == "quniform":
        step = _number(path, "q", node["q"])
    elif kind == "int":
        if low != int(low) or high != int(high):
            raise ConfigError(path, f"int bounds must be whole numbers (low={low}, high={high})")
        low, high = int(low), int(high)
        step = int(node.get("step") or 1)
        if log and step != 1:
            raise ConfigError(f"{path}.step", "log-scaled int ranges take no step", value=step)
    if step is not None and (step <= 0 or step > high - low + (1 if kind == "int" else 0)):
        raise ConfigError(f"{path}.step", f"must be > 0 and fit in [{low}, {high}]", value=step)
    return Param(key, kind, low=low, high=high, step=step, log=log)


def _number(path: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}.{field}", "must be a finite number", value=value)
    return value


def to_ray(params: list[Param]) -> dict[str, Any]:
    """Ray Tune's ``param_space``: a flat dict from config key to a Tune domain."""
    return {p.key: _ray_domain(p) for p in params}


def _ray_domain(p: Param) -> Any:
    if p.type == "grid":
        return tune.grid_search(list(p.values))
    if p.type == "choice":
        return tune.choice(list(p.values))
    if p.type == "uniform":
        return tune.uniform(p.low, p.high)
    if p.type == "loguniform":
        return tune.loguniform(p.low, p.high)
    if p.type == "quniform":
        return tune.quniform(p.low, p.high, p.step)
    if p.log:
        return tune.lograndint(p.low, p.high + 1)  # Ray's upper bound is exclusive
    if p.step == 1:
        return tune.randint(p.low, p.high + 1)
    return tune.qrandint(p.low, p.low + (p.high - p.low) // p.step * p.step, p.step)


def to_grid(params: list[Param]) -> dict[str, Any]:
    """The grid searcher's space: every parameter a ``grid_search`` over its values.

    Raises:
        ConfigError: a continuous distribution, which has no finite grid.
    """
    continuous = [p for p in params if not p.is_discrete and not (p.type == "int" and not p.log)]
    if continuous:
        p = continuous[0]
        raise ConfigError(
            f"search_space.{p.key}.type",
            "the grid searcher needs finite values; use type grid or choice (or int)",
            value=p.type,
            choices=["grid", "choice", "int"],
        )
    return {p.key: tune.grid_search(list(p.values) if p.is_discrete else list(_int_values(p))) for p in params}


def _int_values(p: Param) -> range:
    return range(int(p.low), int(p.high) + 1, int(p.step or 1))


def grid_size(params: list[Param]) -> int:
    """Number of configurations in the grid: what ``searcher=grid`` runs."""
    size = 1
    for p in params:
        size *= len(p.values) if p.is_discrete else len(_int_values(p))
    return size


def to_optuna(params: list[Param]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions for ``OptunaSearch(space=...)``; grid values become categorical."""
    dists: dict[str, optuna.distributions.BaseDistribution] = {}
    for p in params:
        if p.is_discrete:
            dists[p.key] = optuna.distributions.CategoricalDistribution(list(p.values))
        elif p.type == "int":
            dists[p.key] = optuna.distributions.IntDistribution(
                int(p.low), int(p.high), log=p.log, step=1 if p.log else int(p.step)
            )
        else:
            high = p.high
            if p.step is not None:  # Optuna wants high on the step grid
                high = round(p.low + math.floor(round((p.high - p.low) / p.step, 9)) * p.step, 12)
            dists[p.key] = optuna.distributions.FloatDistribution(p.low, high, log=p.log, step=p.step)
    return dists


def largest_searched(cfg: Mapping[str, Any], key: str) -> Any:
    """The largest value ``key`` takes in any trial: the top of its search range, or the config's own value
    when it is not searched (a check of a model limit must hold over the whole range, not the default)."""
    group, _, name = key.partition(".")
    fixed = cfg[group][name]
    searched = next((p for p in parse_space(cfg.get("search_space") or {}) if p.key == key), None)
    if searched is None:
        return fixed
    candidates = [v for v in searched.values if isinstance(v, (int, float))] or [searched.high]
    return max(c for c in candidates if c is not None)
