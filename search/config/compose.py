"""Hydra composition: sweep files in sweeps/ on top of the config groups in hydra_conf/.

The compose API (rather than ``@hydra.main``) keeps the working directory and logging untouched
and lets the CLI turn Hydra's errors into one-paragraph messages. The schema
(``hpo.search.config.schema.SweepConfig``) is registered in Hydra's ConfigStore as ``hpo_schema``
and composed first, so it gives every key its default and its type.
"""

from __future__ import annotations

import importlib.resources
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from hpo.errors import ConfigError
from hpo.paths import PROJECT_ROOT, SWEEPS_DIR, minilm_path
from hpo.search.config.schema import SweepConfig, type_error

DEFAULT_SWEEP = "demo"
# The name hydra_conf/sweep.yaml gives the schema in its defaults list.
SCHEMA_NAME = "hpo_schema"
# Config groups (folders of hydra_conf/), nested ones by path: data/clean is chosen with data/clean=off.
GROUPS = (
    "model",
    "data",
    "data/clean",
    "trainer",
    "search_space",
    "searcher",
    "scheduler",
    "logger",
    "resources",
    "cluster",
)


def register_resolvers() -> None:
    """Resolvers used by hpo's YAML files; idempotent."""
    resolvers = {
        "hpo_minilm_path": minilm_path,
        "hpo_project_root": lambda: str(PROJECT_ROOT),
        "now": lambda pattern: datetime.now().strftime(pattern),
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)


def register_schema() -> None:
    """Put the schema in Hydra's ConfigStore, where ``hydra_conf/sweep.yaml`` composes it first."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=SweepConfig)


def hydra_conf_dir() -> Path:
    """The installed ``hydra_conf`` package folder (package data, works outside the repo too)."""
    return Path(str(importlib.resources.files("hpo.hydra_conf")))


def sweep_dirs() -> list[Path]:
    """Folders searched for a sweep by name: ./sweeps first (the user's), then hpo's own."""
    dirs = [Path.cwd() / "sweeps", SWEEPS_DIR]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_sweeps() -> list[str]:
    """Names of the sweep files that ``--config-name`` accepts."""
    return sorted({p.stem for d in sweep_dirs() for p in d.glob("*.yaml")})


def group_options() -> dict[str, list[str]]:
    """Each config group and its options, for ``hpo sweep --help`` and error messages."""
    root = hydra_conf_dir()
    return {g: sorted(p.stem for p in (root / g).glob("*.yaml")) for g in GROUPS}


def locate_config(config_name: str) -> tuple[Path, str]:
    """Find the folder and name of a sweep given by name (in sweeps/) or by path to a YAML file."""
    as_path = Path(config_name).expanduser()
    if as_path.suffix in (".yaml", ".yml"):
        if not as_path.is_file():
            raise ConfigError("--config", "file not found", value=str(as_path))
        return as_path.resolve().parent, as_path.stem
    for d in sweep_dirs():
        if (d / f"{config_name}.yaml").is_file():
            return d.resolve(), config_name
    raise ConfigError(
        "--config-name", "no such sweep in sweeps/", value=config_name, choices=available_sweeps()
    )


def compose_config(config_name: str = DEFAULT_SWEEP, overrides: list[str] | None = None) -> DictConfig:
    """Compose a sweep file with hpo's config groups and command-line overrides.

    Raises:
        ConfigError: unknown group option, unknown key or malformed override, with Hydra's list
            of the valid options; a value of the wrong type, with the type the schema expects.
    """
    register_resolvers()
    register_schema()
    config_dir, name = locate_config(config_name)
    search_path = f"hydra.searchpath=[file://{hydra_conf_dir()}]"
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return compose(name, overrides=[search_path, *(overrides or [])])
    except (HydraException, OmegaConfBaseException) as exc:
        typed = exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
        if isinstance(typed, ValidationError) and getattr(typed, "full_key", None):
            raise type_error(str(typed.full_key), getattr(typed, "value", None)) from None
        message = str(exc).split("\nConfig search path:")[0].strip()
        raise ConfigError(_override_key(message, overrides or []), _one_paragraph(message)) from None


def _override_key(message: str, overrides: list[str]) -> str:
    """The override a Hydra error is about, when its message names one; else the sweep."""
    for override in overrides:
        key = override.lstrip("+~").split("=")[0]
        if key and (f"'{key}" in message or f"{key}/" in message or f"'{key}'" in message):
            return key
    return "config"


def _one_paragraph(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines).replace("Available options in", ". Available options in")
