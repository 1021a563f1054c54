"""The fine-tuning loop of one run, built from small parts.

A lean loop instead of ``transformers.Trainer``: the sweep owns logging and checkpoints, so the
loop only trains, evaluates and hands each evaluation to a callback (``tune.report`` in a trial,
a file writer in ``hpo train``). It pads each batch dynamically and groups batches by length,
which matters most on CPUs, where padding is paid for in full.

The parts: the task (:mod:`hpo.trainers.tasks`) prepares the rows and computes the loss, the
:class:`~hpo.trainers.engine.engine.Engine` steps the optimizer (precision, accumulation, DDP,
clipping), :class:`~hpo.trainers.engine.reporting.Evaluations` decides when to evaluate and
when to stop, and :mod:`hpo.trainers.engine.faults` names the failures. Whether a run is one
fold of a cross-validation or one rank of a data-parallel trial is decided by the caller
(:mod:`hpo.trainers.runs`).
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed
from transformers.trainer_pt_utils import LengthGroupedSampler

from hpo.evaluation_plan import steps_for_batches
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.engine.checkpoint import ResumeState, Snapshot
from hpo.trainers.engine.engine import Engine, precision_context
from hpo.trainers.engine.faults import FaultInjection, out_of_memory_hint
from hpo.trainers.engine.pbt_replay import apply_changes, changes_after
from hpo.trainers.engine.reporting import Evaluations, FineTuneResult, OnEvaluation
from hpo.trainers.models.domain_adaptation import adapt_encoder, load_unlabelled_texts
from hpo.trainers.models.lora import load_weights, place
from hpo.trainers.models.modeling import freeze, load_tokenizer
from hpo.trainers.tasks.base import Task, TaskData


class DataParallelRank(Protocol):
    """What the loop needs of one rank of a data-parallel run (``hpo.trainers.runs.distributed.DataParallel``)."""

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model wrapped in DDP, so gradients are averaged over the ranks."""

    def batches(self, sampler: Sampler[int], batch_size: int) -> Sampler[list[int]]:
        """This rank's share of the sampler's batches."""


@dataclass
class Run:
    """One training run's parts: what the epochs loop over and what each evaluation needs."""

    trainer: dict[str, Any]
    task: Task
    data: TaskData
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    collate: Any
    loader: DataLoader
    generator: torch.Generator  # the length-grouped sampler's: its state at an epoch's start replays that epoch
    engine: Engine
    evaluations: Evaluations
    faults: FaultInjection
    adapt_metrics: dict[str, float]
    on_evaluation: OnEvaluation

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the epoch's last accumulation group may be short)."""
        return self.evaluations.steps_per_epoch

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The task's training loss of one batch: what the engine propagates."""
        return self.task.loss(model, batch, self.trainer, self.data)


def train_on_splits(
    cfg: dict[str, Any],
    task: Task,
    splits: LabelledSplits,
    on_evaluation: OnEvaluation,
    resume: ResumeState | None = None,
    distributed: DataParallelRank | None = None,
) -> FineTuneResult:
    """One training run on already loaded splits (the whole data, or one cross-validation fold).

    Args:
        cfg: the full resolved config (the trial's sampled values applied).
        task: the task of ``cfg['trainer']['task']``; ``splits`` are its loaded data.
        on_evaluation: called after every evaluation with the metrics and a :class:`Snapshot`.
        resume: continue exactly where a checkpoint left off (same batches, same schedule).
        distributed: this rank of a data-parallel run: DDP and this rank's share of the batches.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
        TrialOutOfMemoryError: a step ran out of memory.
        InjectedFaultError: ``trainer.inject_fault=exception``.
    """
    return _train(build_run(cfg, task, splits, on_evaluation, resume, distributed))


def build_run(
    cfg: dict[str, Any],
    task: Task,
    splits: LabelledSplits,
    on_evaluation: OnEvaluation,
    resume: ResumeState | None = None,
    distributed: DataParallelRank | None = None,
) -> Run:
    """Build a run's parts in the order that fixes its seeded draws, then restore a checkpoint's state.

    The order is the run's reproducibility: the seed, the data, stage one of domain adaptation
    (then the seed again), the model's new head, and only then the resumed RNG states.
    """
    trainer = cfg["trainer"]
    set_seed(trainer["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() and cfg["resources"]["gpus_per_trial"] > 0 else "cpu")
    precision = precision_context(trainer["precision"], device)
    tokenizer = load_tokenizer(cfg["model"])
    data = task.prepare(splits, tokenizer, trainer)
    model, adapt_metrics = _build_model(cfg, task, splits, data, tokenizer, device, resume)
    forward_model = torch.compile(model, dynamic=True) if trainer["compile"] else model
    if distributed is not None:  # gradients averaged over the ranks; evaluation and saving use the bare model
        forward_model = distributed.wrap(forward_model)
    collate = task.collator(tokenizer)
    loader, generator = _train_loader(data, collate, trainer, distributed)
    steps_per_epoch = steps_for_batches(len(loader), trainer["gradient_accumulation_steps"])
    total_steps = steps_per_epoch * trainer["epochs"]
    engine = Engine.create(model, forward_model, trainer, total_steps, device, precision)
    evaluations = Evaluations(cfg, steps_per_epoch, total_steps, {**data.report, **adapt_metrics})
    faults = FaultInjection(None if resume is not None else trainer["inject_fault"], trainer["inject_fault_at_step"])
    run = Run(trainer, task, data, tokenizer, model, collate, loader, generator, engine, evaluations, faults,
              adapt_metrics, on_evaluation)
    if resume is not None:
        state = resume.training_state
        engine.restore(state)
        engine.retune(trainer, total_steps)  # PBT restarts a trial from another's checkpoint with new values
        generator.set_state(state.epoch_generator_state)
        evaluations.restore(state)
    return run


def _build_model(
    cfg: dict[str, Any], task: Task, splits: LabelledSplits, data: TaskData, tokenizer: PreTrainedTokenizerBase,
    device: torch.device, resume: ResumeState | None,
) -> tuple[PreTrainedModel, dict[str, float]]:
    """The task's model on ``device``, frozen as configured, and domain adaptation's figures.

    With ``trainer.domain_adaptation.enabled`` it is built on the encoder that stage one adapted;
    a resumed run's checkpoint already holds that encoder, so stage one is not run again.
    """
    trainer = cfg["trainer"]
    adapt = trainer["domain_adaptation"]
    if adapt["enabled"] and resume is None:
        with tempfile.TemporaryDirectory(prefix="hpo-adapted-") as folder:
            texts = load_unlabelled_texts(adapt, list(splits.train["text"]))
            model_cfg, adapt_metrics = adapt_encoder(cfg["model"], adapt, texts, tokenizer, folder, seed=trainer["seed"], device=device)
            set_seed(trainer["seed"])  # stage one must not shift the new head's initialisation
            model = task.build(model_cfg, data, trainer)
    else:
        adapt_metrics = dict(resume.training_state.adapt_metrics) if resume is not None else {}
        model = task.build(cfg["model"], data, trainer)
    if resume is not None:
        load_weights(model, resume.weights)
    freeze(model, trainer["freeze"], trainer["freeze_layers"])
    if trainer["gradient_checkpointing"]:  # activations recomputed in the backward pass: memory for time
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return place(model, device), adapt_metrics


def _train_loader(
    data: TaskData, collate: Any, trainer: dict[str, Any], distributed: DataParallelRank | None,
) -> tuple[DataLoader, torch.Generator]:
    """Length-grouped batches of the training rows (this rank's share of them), and the sampler's generator."""
    generator = torch.Generator().manual_seed(trainer["seed"])
    sampler = LengthGroupedSampler(trainer["batch_size"], lengths=[len(r["input_ids"]) for r in data.train_rows], generator=generator)
    batching = {"batch_size": trainer["batch_size"], "sampler": sampler} if distributed is None else {
        "batch_sampler": distributed.batches(sampler, trainer["batch_size"])}
    loader = DataLoader(
        data.train_rows,
        **batching,
        collate_fn=collate,
        # its own generator: drawing the loader's base seed from the global RNG would shift the
        # dropout masks of a resumed run
        generator=torch.Generator().manual_seed(trainer["seed"]),
    )
    return loader, generator


def _train(run: Run) -> FineTuneResult:
    """The epochs, from a resumed run's step on: each micro-batch through the engine, evaluating when due."""
    engine, evaluations = run.engine, run.evaluations
    for epoch in range(engine.steps // run.steps_per_epoch, run.trainer["epochs"]):
        epoch_generator_state = run.generator.get_state()
        skip = (engine.steps - epoch * run.steps_per_epoch) * engine.accumulate  # batches of this epoch done before a resume
        run.model.train()
        for index, batch in enumerate(run.loader):
            if index < skip or not _micro_step(run, index, batch):
                continue
            if evaluations.due(engine.steps):
                if _evaluate(run, epoch_generator_state):
                    return evaluations.finish(run.model)
                changes = changes_after(run.trainer["pbt_schedule"], len(evaluations.result.history))
                if changes:
                    apply_changes(run.trainer, changes, engine, run.model, evaluations.total_steps)
                run.model.train()
    return evaluations.finish(run.model)


def _micro_step(run: Run, index: int, batch: dict[str, torch.Tensor]) -> bool:
    """One micro-batch (and a fault, when one is due); True when it ended an optimizer step."""
    engine, meter = run.engine, run.evaluations.meter
    step = engine.steps + 1
    with out_of_memory_hint(run.trainer, step):
        poison = run.faults.fire(step, engine.starts_group(index))
        meter.samples += len(batch["input_ids"])
        loss, stepped = engine.train_micro_batch(batch, run.loss, index, len(run.loader), poison=poison)
    meter.add(loss)
    return stepped


def cost_metrics(model: torch.nn.Module, seconds: float, rows: int, device: torch.device) -> dict[str, float]:
    """What the model costs, beside how good it is: the evaluation's wall time per row (batched at
    ``trainer.eval_batch_size``, generation included for chat), its parameters, and the peak memory
    (the GPU's allocations on a GPU, the process's peak resident size on a CPU)."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {"eval/latency_ms": 1000 * seconds / max(1, rows), "eval/params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "eval/peak_memory_mb": peak}


def _evaluate(run: Run, epoch_generator_state: torch.Tensor) -> bool:
    """Evaluate, report with a snapshot to resume from, and say whether early stopping ends the run."""
    engine = run.engine
    started = time.perf_counter()
    metrics, record = run.task.evaluate(run.model, run.data, run.collate, run.trainer, engine.device, engine.autocast)
    metrics.update(cost_metrics(run.model, time.perf_counter() - started, len(run.data.eval_rows), engine.device))
    metrics["train/learning_rate"] = engine.learning_rate
    stop = run.evaluations.record(metrics, engine.steps, run.model)
    at_epoch_end = engine.steps % run.steps_per_epoch == 0
    state = engine.save_state(
        # a resume re-enters the epoch it stopped in, so it needs the sampler's state at that epoch's start
        epoch_generator_state=run.generator.get_state() if at_epoch_end else epoch_generator_state,
        adapt_metrics=run.adapt_metrics,
        **run.evaluations.state(),
    )
    run.on_evaluation(metrics, Snapshot(run.model, run.tokenizer, state, record))
    run.evaluations.meter.restart_clock()
    return stop
