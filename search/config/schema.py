"""The typed shape of a sweep config and the checks made on the driver before Ray starts.

Types are checked by OmegaConf against the dataclasses below (its structured-config merge names
the key and the expected type); value ranges and names are checked by hand, each with a
``ConfigError`` that names the key, the bad value and the valid choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from hpo.errors import ConfigError
from hpo.options import (
    AVERAGES,
    BUILTIN_METRICS,
    CLASS_WEIGHTS,
    DEDUP,
    FAULTS,
    FORMATS,
    FREEZE_CHOICES,
    INITS,
    PRECISIONS,
    RESAMPLING,
    TASK_METRICS,
)
from hpo.search.algorithms.schedulers import SCHEDULERS
from hpo.search.algorithms.searchers import OPTUNA_SAMPLERS, SEARCHERS
from hpo.search.algorithms.space import Param, parse_space

LOGGERS = ("wandb", "none")
LOGGER_MODES = ("auto", "online", "offline")
MODES = ("max", "min")


@dataclass
class ModelSchema:
    name: str = "custom"
    pretrained: str | None = "???"
    architecture: str | None = None
    tokenizer: str | None = None
    init: str = "pretrained"
    config_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class CleaningSchema:
    normalize: bool = True
    lowercase: bool = False
    strip_urls: bool = False
    strip_html: bool = False
    remove_stopwords: bool = False
    min_words: int | None = None
    max_words: int | None = None
    dedup: str = "none"
    drop_leaked: bool = False


@dataclass
class DataSchema:
    name: str = "custom"
    format: str = "tsv"
    train_path: str | None = None
    eval_path: str | None = None
    hub_name: str | None = None
    hub_config: str | None = None
    train_split: str = "train"
    eval_split: str = "validation"
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str | None = "label"
    num_train: int | None = None
    num_eval: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    validation_fraction: float = 0.1
    clean: CleaningSchema = field(default_factory=CleaningSchema)


@dataclass
class AugmentSchema:
    ratio: float = 0.0
    ops: list[str] = field(default_factory=lambda: ["swap", "delete", "insert", "synonym"])
    word_fraction: float = 0.1
    synonyms_path: str | None = None


@dataclass
class DomainAdaptationSchema:
    enabled: bool = False
    text_path: str | None = None
    text_column: str = "text"
    max_texts: int | None = None
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 16
    mlm_probability: float = 0.15
    max_seq_length: int = 128
    eval_fraction: float = 0.05


@dataclass
class TrainerSchema:
    task: str = "classification"
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    lr_scheduler: str = "linear"
    dropout: float | None = 0.1
    max_seq_length: int = 128
    eval_every_steps: int | None = None
    seed: int = 42
    metrics: list[str] = field(default_factory=lambda: ["accuracy"])
    average: str = "auto"
    max_grad_norm: float | None = 1.0
    gradient_accumulation_steps: int = 1
    layer_lr_decay: float = 1.0
    precision: str = "fp32"
    compile: bool = False
    cv_folds: int | None = None
    augment: AugmentSchema = field(default_factory=AugmentSchema)
    domain_adaptation: DomainAdaptationSchema = field(default_factory=DomainAdaptationSchema)
    label_smoothing: float = 0.0
    freeze: str = "none"
    resample: str = "none"
    class_weights: str = "none"
    freeze_layers: int = 0
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    inject_fault: str | None = None
    inject_fault_at_step: int = 1


@dataclass
class SearcherSchema:
    name: str = "optuna"
    sampler: str = "tpe"
    n_startup_trials: int = 10
    max_concurrent: int | None = None


@dataclass
class SchedulerSchema:
    name: str = "fifo"
    max_t: int | None = None  # null: counted from the longest trial of the space (hpo.search.run.longest_trial)
    grace_period: int = 1
    reduction_factor: float = 2


@dataclass
class LoggerSchema:
    name: str = "none"
    project: str = "hpo"
    entity: str | None = None
    group: str | None = None
    mode: str = "auto"


@dataclass
class ResourcesSchema:
    name: str = "cpu"
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    num_cpus: int | None = None
    reuse_workers: bool = False
    workers_per_trial: int = 1


@dataclass
class ClusterSchema:
    name: str = "local"
    address: str | None = None


@dataclass
class SweepSchema:
    name: str = "sweep"
    metric: str = "eval/accuracy"
    mode: str = "max"
    num_trials: int = 8
    seed: int = 0
    max_failures: int = 0
    output_dir: str = "outputs"
    storage_path: str | None = None


GROUP_SCHEMAS: dict[str, type] = {
    "model": ModelSchema,
    "data": DataSchema,
    "trainer": TrainerSchema,
    "searcher": SearcherSchema,
    "scheduler": SchedulerSchema,
    "logger": LoggerSchema,
    "resources": ResourcesSchema,
    "cluster": ClusterSchema,
    "sweep": SweepSchema,
}


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """Resolve interpolations and type-check each group; returns plain data for the workers.

    Raises:
        ConfigError: a required value left as ``???``, an unknown key or a value of the wrong type.
    """
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        raise ConfigError(str(exc.full_key), "a value is required (set it on the command line: key=value)") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(str(getattr(exc, "full_key", "config")), str(exc).splitlines()[0]) from None
    assert isinstance(plain, dict)
    missing = [g for g in (*GROUP_SCHEMAS, "search_space") if g not in plain]
    if missing:
        raise ConfigError(missing[0], "config group is missing from the sweep", choices=list(GROUP_SCHEMAS))
    for group, schema in GROUP_SCHEMAS.items():
        plain[group] = _typed(group, schema, plain[group])
    return plain


def _typed(group: str, schema: type, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(group, "expected a mapping of keys to values", value=values)
    unknown = sorted(set(values) - set(schema.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{group}.{unknown[0]}", "unknown key", choices=list(schema.__dataclass_fields__))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as exc:
        key = f"{group}.{exc.full_key}" if getattr(exc, "full_key", None) else group
        bad = values.get(str(getattr(exc, "full_key", "")).split(".")[0])
        expected = schema.__dataclass_fields__.get(str(getattr(exc, "full_key", "")).split(".")[0])
        kind = f"expected {expected.type}" if expected else "wrong type"
        raise ConfigError(key, kind, value=bad) from None
    return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]


def check(cfg: dict[str, Any]) -> list[Param]:
    """Check names, ranges and the search space of a resolved config; returns the parsed space.

    Raises:
        ConfigError: the first problem found.
    """
    _choice(cfg, "trainer.task", list(TASK_METRICS))
    _choice(cfg, "model.init", INITS)
    _choice(cfg, "data.format", FORMATS)
    _choice(cfg, "searcher.name", SEARCHERS)
    _choice(cfg, "scheduler.name", SCHEDULERS)
    _choice(cfg, "logger.name", LOGGERS)
    _choice(cfg, "logger.mode", LOGGER_MODES)
    _choice(cfg, "sweep.mode", MODES)
    if cfg["trainer"].get("inject_fault") is not None:
        _choice(cfg, "trainer.inject_fault", FAULTS)
        _at_least(cfg, "trainer.inject_fault_at_step", 1)
    _at_least(cfg, "sweep.max_failures", 0)
    if cfg["searcher"]["name"] == "optuna":
        _choice(cfg, "searcher.sampler", OPTUNA_SAMPLERS)
    task, task_metrics = cfg["trainer"]["task"], TASK_METRICS[cfg["trainer"]["task"]]
    for name in cfg["trainer"]["metrics"]:
        if name not in task_metrics:
            raise ConfigError("trainer.metrics", f"not a metric of task {task}", value=name, choices=task_metrics)
    reported = [f"eval/{m}" for m in (*cfg["trainer"]["metrics"], *BUILTIN_METRICS)]
    if cfg["sweep"]["metric"] not in reported:
        raise ConfigError("sweep.metric", "not a metric the trials report (add it to trainer.metrics)",
                          value=cfg["sweep"]["metric"], choices=reported)
    trainer = cfg["trainer"]
    _at_least(cfg, "trainer.epochs", 1)
    _at_least(cfg, "trainer.batch_size", 1)
    _at_least(cfg, "trainer.eval_batch_size", 1)
    _at_least(cfg, "trainer.max_seq_length", 2)
    _at_least(cfg, "sweep.num_trials", 1)
    _at_least(cfg, "resources.cpus_per_trial", 0)
    _at_least(cfg, "resources.gpus_per_trial", 0)
    _at_least(cfg, "resources.workers_per_trial", 1)
    if cfg["resources"]["workers_per_trial"] > 1 and trainer.get("cv_folds"):
        raise ConfigError("resources.workers_per_trial", "data-parallel trials do not run k-fold CV (trainer.cv_folds); use 1",
                          value=cfg["resources"]["workers_per_trial"], choices=[1])
    if trainer["learning_rate"] <= 0:
        raise ConfigError("trainer.learning_rate", "must be > 0", value=trainer["learning_rate"])
    if not 0 <= trainer["warmup_ratio"] <= 1:
        raise ConfigError("trainer.warmup_ratio", "must be in [0, 1]", value=trainer["warmup_ratio"])
    if trainer["dropout"] is not None and not 0 <= trainer["dropout"] < 1:
        raise ConfigError("trainer.dropout", "must be in [0, 1)", value=trainer["dropout"])
    if cfg["data"]["clean"]["dedup"] not in DEDUP:
        raise ConfigError("data.clean.dedup", "unknown option", value=cfg["data"]["clean"]["dedup"], choices=DEDUP)
    _choice(cfg, "trainer.average", AVERAGES)
    _choice(cfg, "trainer.freeze", FREEZE_CHOICES)
    _choice(cfg, "trainer.resample", RESAMPLING)
    _choice(cfg, "trainer.class_weights", CLASS_WEIGHTS)
    _at_least(cfg, "trainer.freeze_layers", 0)
    if not 0 <= trainer["label_smoothing"] < 1:
        raise ConfigError("trainer.label_smoothing", "must be in [0, 1)", value=trainer["label_smoothing"])
    if trainer["max_grad_norm"] is not None and trainer["max_grad_norm"] <= 0:
        raise ConfigError("trainer.max_grad_norm", "must be > 0 (or null for no clipping)", value=trainer["max_grad_norm"])
    if trainer["early_stopping_patience"] is not None:
        _at_least(cfg, "trainer.early_stopping_patience", 1)
    if trainer["eval_every_steps"] is not None:
        _at_least(cfg, "trainer.eval_every_steps", 1)
    _check_task_options(cfg)
    if cfg["data"]["format"] == "demo":
        _at_least(cfg, "data.num_train", 2)
        _at_least(cfg, "data.num_eval", 1)
    params = parse_space(cfg["search_space"])
    _check_space_keys(cfg, params)
    return params


# Options that only make sense for classification, with their "off" value.
CLASSIFICATION_ONLY = {"resample": "none", "class_weights": "none", "label_smoothing": 0.0}


def _check_task_options(cfg: dict[str, Any]) -> None:
    """Options of the newer training features, and options that the chosen task cannot use."""
    from hpo.trainers.data.augmentation import check_augment

    trainer = cfg["trainer"]
    _at_least(cfg, "trainer.gradient_accumulation_steps", 1)
    if not 0 < trainer["layer_lr_decay"] <= 1:
        raise ConfigError("trainer.layer_lr_decay", "must be in (0, 1] (1 = the same rate for every layer)", value=trainer["layer_lr_decay"])
    _choice(cfg, "trainer.precision", PRECISIONS)
    if trainer["precision"] == "fp16" and not cfg["resources"]["gpus_per_trial"]:
        raise ConfigError("trainer.precision", "fp16 needs a GPU (resources=gpu); on CPUs use bf16", value="fp16", choices=["fp32", "bf16"])
    if trainer["cv_folds"] is not None:
        _at_least(cfg, "trainer.cv_folds", 2)
    check_augment(trainer["augment"])
    if trainer["domain_adaptation"]["enabled"]:
        from hpo.trainers.models.domain_adaptation import check_domain_adaptation

        check_domain_adaptation(trainer["domain_adaptation"])
    task = trainer["task"]
    if task != "classification":
        for key, off in CLASSIFICATION_ONLY.items():
            if trainer[key] != off:
                raise ConfigError(f"trainer.{key}", f"only for classification, not task {task}", value=trainer[key], choices=[off])
    if task == "causal_lm":
        if trainer["augment"]["ratio"]:
            raise ConfigError("trainer.augment.ratio", "augmentation is for labelled tasks, not causal_lm", value=trainer["augment"]["ratio"], choices=[0])
        if trainer["domain_adaptation"]["enabled"]:
            raise ConfigError("trainer.domain_adaptation.enabled", "domain adaptation fine-tunes an encoder for a labelled task, not causal_lm", value=True)
    elif cfg["data"]["format"] == "text":
        raise ConfigError("data.format", f"plain text has no labels: use it with trainer=causal_lm, not task {task}", value="text")


def check_lr_scheduler(cfg: dict[str, Any]) -> None:
    """``trainer.lr_scheduler`` against transformers' schedule names.

    Kept out of :func:`check`, which imports no transformers; ``check_inputs`` calls it beside the
    model check that loads transformers anyway.
    """
    from transformers import SchedulerType

    _choice(cfg, "trainer.lr_scheduler", [s.value for s in SchedulerType])


def _get(cfg: dict[str, Any], key: str) -> Any:
    group, name = key.split(".", 1)
    return cfg[group].get(name)


def _choice(cfg: dict[str, Any], key: str, choices: Any) -> None:
    value = _get(cfg, key)
    if value not in choices:
        raise ConfigError(key, "unknown option", value=value, choices=list(choices))


def _at_least(cfg: dict[str, Any], key: str, low: float) -> None:
    value = _get(cfg, key)
    if value is None or value < low:
        raise ConfigError(key, f"must be >= {low}", value=value)


def _check_space_keys(cfg: dict[str, Any], params: list[Param]) -> None:
    """Each searched key must exist in the config, or the trial would silently ignore it."""
    for p in params:
        group, _, name = p.key.partition(".")
        if group not in GROUP_SCHEMAS or not name:
            raise ConfigError(f"search_space.{p.key}", "not a config key", choices=[f"{g}.<key>" for g in GROUP_SCHEMAS])
        node: Any = cfg[group]
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                choices = sorted(node) if isinstance(node, dict) else None
                raise ConfigError(f"search_space.{p.key}", "no such config key", choices=choices)
            node = node[part]
        _check_space_type(p, GROUP_SCHEMAS[group].__dataclass_fields__.get(name))


def _check_space_type(p: Param, schema_field: Any) -> None:
    """A searched value must have the key's type: a float sampled into ``epochs`` would crash every trial."""
    if schema_field is None:
        return
    wanted = str(schema_field.type)
    values = p.values if p.is_discrete else ()
    if wanted.startswith("int"):
        ok = p.type == "int" or (p.is_discrete and all(isinstance(v, int) and not isinstance(v, bool) for v in values))
        if not ok:
            raise ConfigError(f"search_space.{p.key}", f"{p.key} is an integer; use type int, or choice/grid of integers",
                              value=p.type, choices=["int", "choice", "grid"])
    elif wanted.startswith("float"):
        ok = not p.is_discrete or all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if not ok:
            raise ConfigError(f"search_space.{p.key}", f"{p.key} is a number; the values must be numbers", value=list(values))
    elif wanted.startswith("str") and not (p.is_discrete and all(isinstance(v, str) for v in values)):
        raise ConfigError(f"search_space.{p.key}", f"{p.key} is a name; use choice or grid of names", value=p.type)
