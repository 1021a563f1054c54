"""The typed shape of a sweep config, and the one place where its defaults live.

Defaults: every key has its default here, in the dataclass of its group, and nowhere else.

* Hydra composes :class:`SweepConfig` first (``hpo_schema`` in Hydra's ConfigStore, registered by
  ``hpo.search.config.compose``, first in ``hydra_conf/sweep.yaml``'s defaults list), so every key
  below is in the composed config, typed, and can be overridden on the command line.
* A YAML option in ``hydra_conf/`` sets only what that option stands for: its name, its files and
  their format and columns, and the values it chooses on purpose (a tiny model's sizes, a task's
  metrics). It never restates a default it does not care about. The ``data/clean`` group holds
  the cleaning presets that every data option composes. (A ``???`` in an option cannot mark a
  value as required, since a merge keeps the schema's default under it: what a choice needs, such
  as ``data.train_path`` for a file format, is checked in ``hpo.search.config.checks``.)
* :func:`resolve` merges each group into its dataclass, so a trial's config has every field: the
  trial code reads ``cfg["trainer"]["augment"]["ratio"]`` directly, with no ``.get(key, default)``
  and no default of its own. Tests that call trial code build their blocks from these dataclasses.

Checks: types and unknown keys against these dataclasses, by OmegaConf while Hydra composes and
by :func:`resolve` (a trial's ``config.yaml`` read back has no schema), each naming the key and the
expected type or valid keys; names and ranges once, before Ray starts, by ``hpo.search.config.checks``.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, get_type_hints

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from hpo.errors import ConfigError
from hpo.options import PBT_PERTURBABLE
from hpo.params import get_by_path
from hpo.search.config.feature_schemas import (  # noqa: F401 (re-exported: the schema's blocks)
    AugmentSchema,
    ChatDataSchema,
    ChatTrainerSchema,
    CleaningSchema,
    DomainAdaptationSchema,
    LoraSchema,
    QuestionAnsweringSchema,
)


@dataclass
class ModelSchema:
    name: str = "custom"
    pretrained: str | None = MISSING  # a Hub name or a save_pretrained folder; null: build `architecture`
    architecture: str | None = None  # AutoConfig.for_model's name, when there is no pretrained source
    tokenizer: str | None = None  # null: the tokenizer of `pretrained`
    init: str = "pretrained"  # pretrained | random (random keeps the architecture, re-initialises weights)
    config_overrides: dict[str, Any] = field(default_factory=dict)  # set on the model's config before building it
    lora: LoraSchema = field(default_factory=LoraSchema)


@dataclass
class DataSchema:
    name: str = "custom"
    format: str = "tsv"  # demo | tsv | csv | jsonl | parquet | text (plain text, for trainer=causal_lm) | hub
    train_path: str | None = None
    eval_path: str | None = None  # null: hold out validation_fraction of the training rows (stratified by label)
    hub_name: str | None = None  # format hub: the dataset's name on the Hugging Face Hub
    hub_config: str | None = None
    train_split: str = "train"  # format hub: the split names
    eval_split: str = "validation"
    text_column: str = "text"
    text_pair_column: str | None = None  # the second sentence of sentence-pair tasks
    label_column: str | None = "label"
    num_train: int | None = None  # format demo: rows generated
    num_eval: int | None = None
    max_train_samples: int | None = None  # a seeded random subset (null: every row)
    max_eval_samples: int | None = None
    validation_fraction: float = 0.1
    # The test split: rows no trial trains on, is ranked on or is stopped on; after the sweep the top
    # sweep.test_top_k trials are scored on it. At most one of: a file in data.format, a Hub split
    # (format hub), or a seeded (stratified) share held out of the training rows before anything else.
    test_path: str | None = None
    test_split: str | None = None
    test_fraction: float | None = None
    max_test_samples: int | None = None  # a seeded random subset (null: every row)
    clean: CleaningSchema = field(default_factory=CleaningSchema)
    chat: ChatDataSchema = field(default_factory=ChatDataSchema)


@dataclass
class TrainerSchema:
    """Every key can be searched: name it in the search space as ``trainer.<key>``."""

    task: str = "classification"  # classification | regression | causal_lm | chat
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    lr_scheduler: str = "linear"  # any transformers.get_scheduler name: linear, cosine, constant, ...
    dropout: float | None = 0.1  # hidden and attention dropout of the encoder
    max_seq_length: int = 128  # causal_lm: the block size
    eval_every_steps: int | None = None  # null: evaluate once per epoch
    seed: int = 42
    # also: matthews_correlation, roc_auc; the other tasks' options set their own metrics
    metrics: list[str] = field(default_factory=lambda: ["accuracy", "f1", "precision", "recall"])
    average: str = "auto"  # f1/precision/recall: auto (binary for 2 classes, else macro) | binary | macro | micro | weighted
    max_grad_norm: float | None = 1.0  # gradient clipping (null: none)
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step (effective batch = batch_size x this)
    layer_lr_decay: float = 1.0  # layer i of L trains at learning_rate x decay^(L+1-i); 1 = off
    precision: str = "fp32"  # fp32 | bf16 (CPU or GPU autocast) | fp16 (GPU, with loss scaling)
    compile: bool = False  # torch.compile the model (pays a compile once; shapes vary, so dynamic=True)
    cv_folds: int | None = None  # k >= 2: k-fold cross-validation on the training rows, mean and std reported
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% more time
    augment: AugmentSchema = field(default_factory=AugmentSchema)
    domain_adaptation: DomainAdaptationSchema = field(default_factory=DomainAdaptationSchema)
    chat: ChatTrainerSchema = field(default_factory=ChatTrainerSchema)
    qa: QuestionAnsweringSchema = field(default_factory=QuestionAnsweringSchema)
    label_smoothing: float = 0.0
    freeze: str = "none"  # transfer learning: none | embeddings | all_but_head
    resample: str = "none"  # class imbalance (training rows only): none | oversample | undersample
    class_weights: str = "none"  # none | balanced
    freeze_layers: int = 0  # and/or the first N encoder layers
    early_stopping_patience: int | None = None  # on the sweep's metric; restores the best evaluation's weights
    early_stopping_min_delta: float = 0.0
    inject_fault: str | None = None  # rehearse failure handling: exception | nan | oom at this optimizer step (not after a resume)
    inject_fault_at_step: int = 1
    # A PBT winner's schedule, replayed by hpo train: [{evaluation: n, params: {trainer.<key>: value}}]
    # sets the values after the n-th evaluation (written by the export; see hpo.trainers.engine.pbt_replay)
    pbt_schedule: list[Any] = field(default_factory=list)


@dataclass
class SearcherSchema:
    name: str = "optuna"
    sampler: str = "tpe"  # optuna: tpe | gp | cmaes | qmc | random
    n_startup_trials: int = 10  # random trials before the model-based sampler takes over (tpe, gp)
    max_concurrent: int | None = None  # trials running at once (null: as many as the resources allow)


@dataclass
class SchedulerSchema:
    """The counts are in evaluations (training_iteration): one report per evaluation."""

    name: str = "fifo"
    max_t: int | None = None  # null: counted from the longest trial of the space (hpo.search.run.longest_trial)
    grace_period: int | None = None  # null: about max_t / 16, at least 1 (search.algorithms.schedulers.default_grace_period)
    reduction_factor: float = 3
    # pbt, pb2: every perturbation_interval evaluations, a trial in the bottom quantile_fraction copies
    # one of the top's checkpoint and values, then perturbs (pbt) or picks with a GP bandit (pb2) the
    # keys of `perturb` that the search space searches
    perturbation_interval: int = 1
    quantile_fraction: float = 0.25
    p_threshold: float = 0.1  # wilcoxon: prune when the folds lose to the best trial's at this p-value
    resample_probability: float = 0.25  # pbt: draw a perturbed value afresh from the space instead of x0.8 / x1.2
    perturb: list[str] = field(default_factory=lambda: list(PBT_PERTURBABLE))


@dataclass
class LoggerSchema:
    name: str = "none"
    project: str = "hpo"
    entity: str | None = None
    group: str | None = None  # null: the sweep's name and start time
    mode: str = "auto"  # auto (online when WANDB_API_KEY is set, else offline) | online | offline


@dataclass
class ResourcesSchema:
    """Per-trial resources."""

    name: str = "cpu"
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    num_cpus: int | None = None  # CPUs Ray may use on a local machine (null: all)
    # true: trials share worker processes (saves ~5 s of imports per trial);
    # false: each trial gets a fresh process that returns all its memory when it ends.
    reuse_workers: bool = False
    # >1: each trial is a Ray Train TorchTrainer with this many DDP workers, each with the CPUs/GPUs above
    workers_per_trial: int = 1


@dataclass
class ClusterSchema:
    name: str = "local"
    address: str | None = None  # null: start Ray here; auto, host:port or ray://host:10001: an existing cluster


@dataclass
class BudgetSchema:
    """Limits on the whole sweep (null: off); the first one reached stops every trial.
    Compute counts what the trials report; the wall time counts this run (sweep, resume or extend)."""

    wall_time_s: float | None = None  # seconds
    epochs: float | None = None  # training epochs summed over all trials
    gpu_hours: float | None = None  # trial time x resources.gpus_per_trial, summed over all trials
    target: float | None = None  # stop once an evaluation reaches this sweep.metric (>= for max, <= for min)
    plateau_trials: int | None = None  # stop once this many trials in a row ended without improving the best
    plateau_min_delta: float = 0.0  # by more than this


@dataclass
class SweepSchema:
    name: str = "sweep"
    # The metric and its mode are set here and nowhere else: the searcher, the scheduler,
    # checkpoint ranking, the leaderboard and the export all read them from this place.
    metric: str = "eval/accuracy"
    mode: str = "max"
    # Multi-objective sweeps (hpo.objectives): more objectives beside metric (which stays the primary,
    # ASHA's and best/'s), each "<metric>:<max|min>", e.g. [eval/latency_ms:min]; and constraints,
    # each "<metric><=<number>" or ">=", e.g. [eval/latency_ms<=20].
    objectives: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    num_trials: int = 8  # trials to sample (random and optuna); the grid searcher runs its grid exactly once
    seed: int = 0
    max_failures: int = 0  # times Ray restarts a failed trial (from its latest checkpoint) before recording it as failed
    output_dir: str = "outputs/${sweep.name}/${now:%Y-%m-%d_%H-%M-%S}"
    # Where Ray Tune writes trial results and checkpoints (null: output_dir). A URI pyarrow opens
    # (s3://bucket/prefix, gs://..., file:///shared/...) or an absolute folder every node can reach;
    # after each run the results are copied back into output_dir for the leaderboard and export.
    storage_path: str | None = None
    budget: BudgetSchema = field(default_factory=BudgetSchema)
    test_top_k: int = 3  # with a test split (data.test_*): the best k trials with a checkpoint are scored on it
    confirm_top_k: int = 0  # >0: after the sweep, retrain the best k configurations with confirm_seeds seeds (hpo confirm)
    confirm_seeds: int = 3


@dataclass
class SweepConfig:
    """A whole sweep config: one field per config group. Hydra composes it before the groups'
    options (``hydra_conf/sweep.yaml``), so they and the command line only change its values."""

    model: ModelSchema = field(default_factory=ModelSchema)
    data: DataSchema = field(default_factory=DataSchema)
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    searcher: SearcherSchema = field(default_factory=SearcherSchema)
    scheduler: SchedulerSchema = field(default_factory=SchedulerSchema)
    logger: LoggerSchema = field(default_factory=LoggerSchema)
    resources: ResourcesSchema = field(default_factory=ResourcesSchema)
    cluster: ClusterSchema = field(default_factory=ClusterSchema)
    sweep: SweepSchema = field(default_factory=SweepSchema)
    search_space: Any = MISSING  # free-form: parsed by hpo.search.algorithms.space


GROUP_SCHEMAS: dict[str, type] = {f.name: get_type_hints(SweepConfig)[f.name] for f in fields(SweepConfig) if f.name != "search_space"}


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


def with_defaults(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config saved in a sweep folder by an older hpo, with each key added since then at its schema
    default; every saved value is kept as it was. Readers of old folders then need no ``.get``."""
    filled = dict(cfg)
    for group, schema in GROUP_SCHEMAS.items():
        if isinstance(cfg.get(group), dict):
            defaults = OmegaConf.to_container(OmegaConf.structured(schema), resolve=False)
            filled[group] = _fill_missing(cfg[group], defaults)
    return filled


def _fill_missing(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, default in defaults.items():
        if key not in out:
            out[key] = default
        elif isinstance(out[key], dict) and isinstance(default, dict):
            out[key] = _fill_missing(out[key], default)
    return out


def schema_field(key: str) -> Field | None:
    """The dataclass field of a dotted key (``trainer.augment.ratio``); None for a key the schema
    does not type (``search_space.*``, inside ``model.config_overrides``, or no such key)."""
    node: Any = SweepConfig
    found = None
    for part in key.split("."):
        if not is_dataclass(node) or part not in node.__dataclass_fields__:
            return None
        found = node.__dataclass_fields__[part]
        node = _hints(node)[part]
    return found


def type_error(key: str, value: Any) -> ConfigError:
    """The error for a value of the wrong type at a dotted key, naming the type the schema expects."""
    found = schema_field(key)
    return ConfigError(key, f"expected {found.type}" if found is not None else "wrong type", value=value)


def _typed(group: str, schema: type, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(group, "expected a mapping of keys to values", value=values)
    _reject_unknown_keys(group, schema, values)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
        return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        where = str(getattr(exc, "full_key", "") or "")
        try:
            bad = get_by_path(values, where) if where else values
        except KeyError:
            bad = None
        raise type_error(f"{group}.{where}" if where else group, bad) from None


def _reject_unknown_keys(prefix: str, schema: type, values: dict[str, Any]) -> None:
    """An unknown key, also inside a nested block (``trainer.augment.rate``), with the valid keys."""
    known = schema.__dataclass_fields__
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", "unknown key", choices=list(known))
    hints = _hints(schema)
    for name, value in values.items():
        if is_dataclass(hints[name]) and isinstance(value, dict):
            _reject_unknown_keys(f"{prefix}.{name}", hints[name], value)


@cache
def _hints(schema: type) -> dict[str, Any]:
    """The fields' types as classes (``from __future__ import annotations`` leaves them as text)."""
    return get_type_hints(schema)
