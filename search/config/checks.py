"""The checks made on the driver before Ray starts: names, ranges and the search space.

Each check is made here once, and the trial code does not repeat it. A choice among names is
checked against the list in ``hpo.options`` that the implementing module dispatches on; a feature
with several options owns its check (``check_augment``, ``check_domain_adaptation``, each in a
module free of torch and datasets) and :func:`check` calls it. What needs the data or the model
(the rarest class against ``cv_folds``, a model's layers against ``freeze_layers``) is checked
where they are loaded. Types and unknown keys were checked by the schema (``resolve``) already.
Every problem is one ``ConfigError`` that names the key, the bad value and the valid choices.
"""

from __future__ import annotations

from dataclasses import Field
from typing import Any

from hpo.errors import ConfigError
from hpo.objectives import constraints, is_multi_objective, objectives
from hpo.options import (
    AVERAGES,
    BUILTIN_METRICS,
    CLASS_WEIGHTS,
    DEDUP,
    FAULTS,
    FILE_FORMATS,
    FORMATS,
    FREEZE_CHOICES,
    INITS,
    LM_FORMATS,
    PBT_PERTURBABLE,
    PRECISIONS,
    QA_FORMATS,
    RESAMPLING,
    TASK_METRICS,
    TEST_SOURCES,
    TEXT_FORMAT,
)
from hpo.params import apply_params, get_by_path
from hpo.search.algorithms.schedulers import POPULATION_BASED, REQUIRED_SEARCHER, SCHEDULERS
from hpo.search.algorithms.searchers import OPTUNA_SAMPLERS, REQUIRED_SCHEDULER, SEARCHERS
from hpo.search.algorithms.space import Param, parse_space
from hpo.search.algorithms.wilcoxon_folds import wilcoxon_settings
from hpo.search.config.schema import GROUP_SCHEMAS, schema_field
from hpo.trainers.data.augmentation_check import check_augment
from hpo.trainers.data.chat_check import check_chat
from hpo.trainers.models.domain_adaptation_check import check_domain_adaptation
from hpo.trainers.models.lora_check import check_lora

LOGGERS = ("wandb", "none")
LOGGER_MODES = ("auto", "online", "offline")
MODES = ("max", "min")
# Options that only make sense for classification, with their "off" value.
CLASSIFICATION_ONLY = {"resample": "none", "class_weights": "none", "label_smoothing": 0.0}


def check(cfg: dict[str, Any]) -> list[Param]:
    """Check names, ranges and the search space of a resolved config; returns the parsed space.

    Raises:
        ConfigError: the first problem found.
    """
    _check_sweep(cfg)
    _check_metrics(cfg)
    _check_data(cfg)
    _check_training(cfg)
    _check_features(cfg)
    _check_pbt_schedule(cfg)
    _check_task_options(cfg)
    params = parse_space(cfg["search_space"])
    _check_space_keys(cfg, params)
    _check_searched_values(cfg, params)
    return params


def _check_searched_values(cfg: dict[str, Any], params: list[Param]) -> None:
    """Each end of a searched range, and each listed value, passes the checks the config's own value passes
    (a ``trainer.label_smoothing`` range reaching 1 fails as ``trainer.label_smoothing=1`` does, before any trial).

    Raises:
        ConfigError: naming ``search_space.<key>``, the value that breaks it and the rule it breaks.
    """
    for p in params:
        for value in (p.values or (p.low, p.high)):
            try:
                trial = apply_params(cfg, {p.key: value})
                for check_values in (_check_training, _check_features, _check_task_options):  # what a trial's value meets
                    check_values(trial)
            except ConfigError as exc:
                raise ConfigError(f"search_space.{p.key}", f"reaches {value!r}, which fails its check: {exc}") from None


def check_lr_scheduler(cfg: dict[str, Any]) -> None:
    """``trainer.lr_scheduler`` against transformers' schedule names.

    Kept out of :func:`check`, which imports no transformers; ``check_inputs`` calls it beside the
    model check that loads transformers anyway.
    """
    from transformers import SchedulerType  # heavy: only the sweep driver's input check pays for it

    _choice(cfg, "trainer.lr_scheduler", [s.value for s in SchedulerType])


def _check_sweep(cfg: dict[str, Any]) -> None:
    """The search machinery: searcher, scheduler, logger, resources and the sweep's own keys."""
    _choice(cfg, "searcher.name", SEARCHERS)
    if cfg["searcher"]["name"] == "optuna":
        _choice(cfg, "searcher.sampler", OPTUNA_SAMPLERS)
    _choice(cfg, "scheduler.name", SCHEDULERS)
    needed = REQUIRED_SCHEDULER.get(cfg["searcher"]["name"])
    if needed is not None and cfg["scheduler"]["name"] != needed:
        raise ConfigError("scheduler.name", f"searcher={cfg['searcher']['name']} needs scheduler={needed}",
                          value=cfg["scheduler"]["name"], choices=[needed])
    needed = REQUIRED_SEARCHER.get(cfg["scheduler"]["name"])
    if needed is not None and cfg["searcher"]["name"] != needed:
        raise ConfigError("searcher.name", f"scheduler={cfg['scheduler']['name']} evolves a population sampled by searcher={needed}",
                          value=cfg["searcher"]["name"], choices=[needed])
    _choice(cfg, "logger.name", LOGGERS)
    _choice(cfg, "logger.mode", LOGGER_MODES)
    _choice(cfg, "sweep.mode", MODES)
    _at_least(cfg, "sweep.max_failures", 0)
    _at_least(cfg, "sweep.num_trials", 1)
    _at_least(cfg, "resources.cpus_per_trial", 0)
    _at_least(cfg, "resources.gpus_per_trial", 0)
    _at_least(cfg, "resources.workers_per_trial", 1)
    _check_budget(cfg)
    _check_confirm(cfg)
    if cfg["scheduler"]["name"] == "wilcoxon":
        wilcoxon_settings(cfg["scheduler"], cfg["trainer"]["cv_folds"])
    if cfg["scheduler"]["name"] in POPULATION_BASED and cfg["trainer"]["cv_folds"]:
        raise ConfigError("trainer.cv_folds", f"scheduler={cfg['scheduler']['name']} copies one trial's checkpoint into another "
                          "mid-run, and a k-fold trial's checkpoints are per fold; use null", value=cfg["trainer"]["cv_folds"])
    if cfg["resources"]["workers_per_trial"] > 1 and cfg["trainer"]["cv_folds"]:
        raise ConfigError("resources.workers_per_trial", "data-parallel trials do not run k-fold CV (trainer.cv_folds); use 1",
                          value=cfg["resources"]["workers_per_trial"], choices=[1])


def _check_confirm(cfg: dict[str, Any]) -> None:
    """``sweep.confirm_top_k`` configurations (0: off) with ``confirm_seeds`` seeds: a mean of one run has no interval."""
    _at_least(cfg, "sweep.confirm_top_k", 0)
    _at_least(cfg, "sweep.confirm_seeds", 2)


def _check_budget(cfg: dict[str, Any]) -> None:
    """Each set limit of ``sweep.budget`` is positive; a GPU-hour budget needs trials that hold GPUs."""
    budget = cfg["sweep"]["budget"]
    for key in ("wall_time_s", "epochs", "gpu_hours", "plateau_trials"):
        if budget[key] is not None and budget[key] <= 0:
            raise ConfigError(f"sweep.budget.{key}", "must be > 0 (or null for no limit)", value=budget[key])
    _at_least(cfg, "sweep.budget.plateau_min_delta", 0)
    if budget["gpu_hours"] is not None and not cfg["resources"]["gpus_per_trial"]:
        raise ConfigError("sweep.budget.gpu_hours", "counts GPU time, but resources.gpus_per_trial is 0; "
                          "use sweep.budget.wall_time_s or sweep.budget.epochs", value=budget["gpu_hours"])


def _check_metrics(cfg: dict[str, Any]) -> None:
    """The task, its metrics, and a sweep metric that the trials report."""
    _choice(cfg, "trainer.task", list(TASK_METRICS))
    task, task_metrics = cfg["trainer"]["task"], TASK_METRICS[cfg["trainer"]["task"]]
    for name in cfg["trainer"]["metrics"]:
        if name not in task_metrics:
            raise ConfigError("trainer.metrics", f"not a metric of task {task}", value=name, choices=task_metrics)
    reported = [f"eval/{m}" for m in (*cfg["trainer"]["metrics"], *BUILTIN_METRICS)]
    if cfg["sweep"]["metric"] not in reported:
        raise ConfigError("sweep.metric", "not a metric the trials report (add it to trainer.metrics)",
                          value=cfg["sweep"]["metric"], choices=reported)
    for i, objective in enumerate(objectives(cfg["sweep"])[1:]):
        if objective.metric not in reported:
            raise ConfigError(f"sweep.objectives[{i}]", "not a metric the trials report (add it to trainer.metrics)",
                              value=objective.metric, choices=reported)
    for i, constraint in enumerate(constraints(cfg["sweep"])):
        if constraint.metric not in reported:
            raise ConfigError(f"sweep.constraints[{i}]", "not a metric the trials report (add it to trainer.metrics)",
                              value=constraint.metric, choices=reported)
    if (is_multi_objective(cfg["sweep"]) or constraints(cfg["sweep"])) and cfg["searcher"]["name"] not in ("optuna", "random", "grid"):
        raise ConfigError("searcher.name", "objectives and constraints need a searcher that reads them (optuna) "
                          "or none (random, grid)", value=cfg["searcher"]["name"], choices=["optuna", "random", "grid"])
    if is_multi_objective(cfg["sweep"]) and cfg["searcher"]["name"] == "optuna" and cfg["searcher"]["sampler"] in ("cmaes", "qmc"):
        raise ConfigError("searcher.sampler", "samples one objective; a multi-objective sweep needs one of the listed",
                          value=cfg["searcher"]["sampler"], choices=["nsga2", "tpe", "gp", "random"])
    _choice(cfg, "trainer.average", AVERAGES)


def _check_data(cfg: dict[str, Any]) -> None:
    """The data's format (for the task) and what it needs, its sizes and its cleaning options."""
    data, task = cfg["data"], cfg["trainer"]["task"]
    _choice(cfg, "data.format", FORMATS)
    needed = {**dict.fromkeys((*FILE_FORMATS, *TEXT_FORMAT, "squad"), "train_path"), "hub": "hub_name"}.get(data["format"])
    if needed and not data[needed]:
        raise ConfigError(f"data.{needed}", f"a value is required for format {data['format']} (set it on the command line: data.{needed}=...)")
    if task == "chat":
        check_chat(cfg)
    elif task == "question_answering":
        _check_question_answering(cfg)
    elif data["format"] == "squad":
        raise ConfigError("data.format", f"SQuAD's nested JSON holds questions: use it with trainer=question_answering (not task {task})", value="squad")
    elif task == "causal_lm" and data["format"] not in LM_FORMATS:
        raise ConfigError("data.format", "not a format for language modelling", value=data["format"], choices=LM_FORMATS)
    if task != "causal_lm" and data["format"] in TEXT_FORMAT:
        raise ConfigError("data.format", f"plain text has no labels: use it with trainer=causal_lm (not task {task}), "
                          "or as trainer.domain_adaptation.text_path", value=data["format"])
    if data["format"] == "demo":
        _at_least(cfg, "data.num_train", 2)
        _at_least(cfg, "data.num_eval", 1)
    if not 0 < data["validation_fraction"] < 1:
        raise ConfigError("data.validation_fraction", "must be in (0, 1)", value=data["validation_fraction"])
    _check_test_split(cfg)
    _choice(cfg, "data.clean.dedup", DEDUP)


def _check_question_answering(cfg: dict[str, Any]) -> None:
    """Question files, and windows whose overlap leaves room for new context tokens."""
    qa = cfg["trainer"]["qa"]
    _choice(cfg, "data.format", QA_FORMATS)
    _at_least(cfg, "trainer.qa.doc_stride", 0)
    _at_least(cfg, "trainer.qa.max_answer_length", 1)
    _at_least(cfg, "trainer.qa.n_best", 1)
    if qa["doc_stride"] >= cfg["trainer"]["max_seq_length"] // 2:
        raise ConfigError("trainer.qa.doc_stride", f"must be below half of trainer.max_seq_length ({cfg['trainer']['max_seq_length']}): "
                          "the windows' overlap, with the question repeated in each", value=qa["doc_stride"])


def _check_test_split(cfg: dict[str, Any]) -> None:
    """One test source at most, one the data's format can give, and a number of trials to score on it."""
    data = cfg["data"]
    given = [key for key in TEST_SOURCES if data[key] is not None]
    if len(given) > 1:
        raise ConfigError(f"data.{given[1]}", f"set one test source, not {' and '.join('data.' + k for k in given)}")
    if data["test_split"] is not None and data["format"] != "hub":
        raise ConfigError("data.test_split", "a Hub split name needs data.format=hub; use data.test_path for a file",
                          value=data["test_split"])
    if data["test_path"] is not None and data["format"] in ("hub", "demo"):
        raise ConfigError("data.test_path", f"format {data['format']} has no files: use "
                          + ("data.test_split" if data["format"] == "hub" else "data.test_fraction"), value=data["test_path"])
    if data["test_fraction"] is not None and not 0 < data["test_fraction"] < 1:
        raise ConfigError("data.test_fraction", "must be in (0, 1)", value=data["test_fraction"])
    if data["max_test_samples"] is not None:
        _at_least(cfg, "data.max_test_samples", 1)
    _at_least(cfg, "sweep.test_top_k", 1)


def _check_training(cfg: dict[str, Any]) -> None:
    """The fine-tuning loop's numbers: epochs, batches, rates and their schedule, precision."""
    trainer = cfg["trainer"]
    _choice(cfg, "model.init", INITS)
    _at_least(cfg, "trainer.epochs", 1)
    _at_least(cfg, "trainer.batch_size", 1)
    _at_least(cfg, "trainer.eval_batch_size", 1)
    _at_least(cfg, "trainer.max_seq_length", 2)
    _at_least(cfg, "trainer.gradient_accumulation_steps", 1)
    if trainer["learning_rate"] <= 0:
        raise ConfigError("trainer.learning_rate", "must be > 0", value=trainer["learning_rate"])
    if not 0 <= trainer["warmup_ratio"] <= 1:
        raise ConfigError("trainer.warmup_ratio", "must be in [0, 1]", value=trainer["warmup_ratio"])
    if trainer["dropout"] is not None and not 0 <= trainer["dropout"] < 1:
        raise ConfigError("trainer.dropout", "must be in [0, 1)", value=trainer["dropout"])
    if not 0 < trainer["layer_lr_decay"] <= 1:
        raise ConfigError("trainer.layer_lr_decay", "must be in (0, 1] (1 = the same rate for every layer)", value=trainer["layer_lr_decay"])
    if trainer["max_grad_norm"] is not None and trainer["max_grad_norm"] <= 0:
        raise ConfigError("trainer.max_grad_norm", "must be > 0 (or null for no clipping)", value=trainer["max_grad_norm"])
    _choice(cfg, "trainer.precision", PRECISIONS)
    if trainer["precision"] == "fp16" and not cfg["resources"]["gpus_per_trial"]:
        raise ConfigError("trainer.precision", "fp16 needs a GPU (resources=gpu); on CPUs use bf16", value="fp16", choices=["fp32", "bf16"])
    if trainer["eval_every_steps"] is not None:
        _at_least(cfg, "trainer.eval_every_steps", 1)
    if trainer["early_stopping_patience"] is not None:
        _at_least(cfg, "trainer.early_stopping_patience", 1)
    if trainer["inject_fault"] is not None:
        _choice(cfg, "trainer.inject_fault", FAULTS)
        _at_least(cfg, "trainer.inject_fault_at_step", 1)


def _check_pbt_schedule(cfg: dict[str, Any]) -> None:
    """``trainer.pbt_schedule`` (written by the export of a PBT winner): entries a run can replay."""
    for entry in cfg["trainer"]["pbt_schedule"]:
        evaluation = entry.get("evaluation") if isinstance(entry, dict) else None
        if not (isinstance(evaluation, int) and evaluation >= 1 and isinstance(entry.get("params"), dict)):
            raise ConfigError("trainer.pbt_schedule", "each entry is {evaluation: n >= 1, params: {trainer.<key>: value}}", value=entry)
        for key in entry["params"]:
            if key not in PBT_PERTURBABLE:
                raise ConfigError("trainer.pbt_schedule", "cannot change in a running trial", value=key, choices=PBT_PERTURBABLE)


def _check_features(cfg: dict[str, Any]) -> None:
    """The training features' options: transfer learning, imbalance, cross-validation, augmentation,
    domain adaptation, LoRA (checked whether enabled or not, so a sweep may search ``enabled``)."""
    trainer = cfg["trainer"]
    _choice(cfg, "trainer.freeze", FREEZE_CHOICES)
    _at_least(cfg, "trainer.freeze_layers", 0)
    _choice(cfg, "trainer.resample", RESAMPLING)
    _choice(cfg, "trainer.class_weights", CLASS_WEIGHTS)
    if not 0 <= trainer["label_smoothing"] < 1:
        raise ConfigError("trainer.label_smoothing", "must be in [0, 1)", value=trainer["label_smoothing"])
    if trainer["cv_folds"] is not None:
        _at_least(cfg, "trainer.cv_folds", 2)
    check_augment(trainer["augment"])
    check_domain_adaptation(trainer["domain_adaptation"])
    check_lora(cfg)


def _check_task_options(cfg: dict[str, Any]) -> None:
    """Options that the chosen task cannot use."""
    trainer, task = cfg["trainer"], cfg["trainer"]["task"]
    if task != "classification":
        for key, off in CLASSIFICATION_ONLY.items():
            if trainer[key] != off:
                raise ConfigError(f"trainer.{key}", f"only for classification, not task {task}", value=trainer[key], choices=[off])
    if task in ("causal_lm", "chat"):
        if trainer["augment"]["ratio"]:
            raise ConfigError("trainer.augment.ratio", f"augmentation is for labelled tasks, not {task}", value=trainer["augment"]["ratio"], choices=[0])
        if trainer["domain_adaptation"]["enabled"]:
            raise ConfigError("trainer.domain_adaptation.enabled", f"domain adaptation fine-tunes an encoder for a labelled task, not {task}", value=True)


def _choice(cfg: dict[str, Any], key: str, choices: Any) -> None:
    value = get_by_path(cfg, key)
    if value not in choices:
        raise ConfigError(key, "unknown option", value=value, choices=list(choices))


def _at_least(cfg: dict[str, Any], key: str, low: float) -> None:
    value = get_by_path(cfg, key)
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
        _check_space_type(p, schema_field(p.key))


def _check_space_type(p: Param, typed: Field | None) -> None:
    """A searched value must have the key's type: a float sampled into ``epochs`` would crash every trial."""
    if typed is None:
        return
    wanted = str(typed.type)
    # null is one of the values of an optional key (``str | None``: e.g. no fault injected)
    values = [v for v in p.values if not (v is None and "None" in wanted)] if p.is_discrete else ()
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
        raise ConfigError(f"search_space.{p.key}", f"{p.key} is a name; use choice or grid of names",
                          value=list(values) if p.is_discrete else p.type)
