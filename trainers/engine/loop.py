"""The fine-tuning loop run by every trial and by ``hpo train``.

A lean loop instead of ``transformers.Trainer``: the sweep owns logging and checkpoints, so the
loop only trains, evaluates and hands each evaluation to a callback (``tune.report`` in a trial,
a file writer in ``hpo train``). It pads each batch dynamically and groups batches by length,
which matters most on CPUs, where padding is paid for in full.
"""

from __future__ import annotations

import contextlib
import functools
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_scheduler, set_seed
from transformers import logging as hf_logging
from transformers.trainer_pt_utils import LengthGroupedSampler

from hpo.errors import ConfigError
from hpo.layout import TRAINING_STATE_FILE
from hpo.options import PRECISIONS
from hpo.ranking import is_better
from hpo.trainers.data.loading import LabelledSplits
from hpo.trainers.evaluation.early_stopping import build_early_stopping
from hpo.trainers.evaluation.evaluate import EvalOutput, RegressionEvalOutput
from hpo.trainers.models.modeling import freeze, load_tokenizer
from hpo.trainers.models.optim import param_groups
from hpo.trainers.tasks.registry import Task, get_task

if TYPE_CHECKING:
    from hpo.trainers.runs.distributed import DataParallel



class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the trial cannot recover, so it ends as failed."""


class TrialOutOfMemoryError(RuntimeError):
    """The trial ran out of (GPU or host) memory; the message says which settings to lower."""


class InjectedFaultError(RuntimeError):
    """A fault asked for by ``trainer.inject_fault``, to rehearse retries and failure handling."""


@dataclass
class FineTuneResult:
    """The evaluations of one run and the best of them by the sweep's metric."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None


@dataclass
class Snapshot:
    """Everything needed to save one evaluation: the weights, and the state to resume training from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    training_state: dict[str, Any]
    evaluation: EvalOutput | RegressionEvalOutput | None = None

    def save(self, directory: str | Path, with_training_state: bool = True) -> Path:
        """``save_pretrained`` folder, the evaluation's predictions and report, and (for an exact
        resume) the optimizer, scheduler, RNG and step."""
        directory = Path(directory)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        if self.evaluation is not None:
            self.evaluation.save(directory)
        if with_training_state:
            torch.save(self.training_state, directory / TRAINING_STATE_FILE)
        return directory


OnEvaluation = Callable[[dict[str, float], Snapshot], None]


@dataclass
class ResumeState:
    """A checkpoint read back into memory: model weights and the training state saved beside them."""

    weights: dict[str, torch.Tensor]
    training_state: dict[str, Any]

    @classmethod
    def load(cls, directory: str | Path) -> ResumeState | None:
        """None when the folder holds no training state (e.g. an exported best checkpoint)."""
        directory = Path(directory)
        state_file = directory / TRAINING_STATE_FILE
        if not state_file.is_file():
            return None
        from safetensors.torch import load_file

        return cls(load_file(directory / "model.safetensors"), torch.load(state_file, weights_only=False))


def fine_tune(
    cfg: dict[str, Any],
    on_evaluation: OnEvaluation,
    num_threads: int | None = None,
    resume: ResumeState | None = None,
    distributed: DataParallel | None = None,
) -> FineTuneResult:
    """Fine-tune ``cfg['model']`` on ``cfg['data']`` for ``cfg['trainer']['task']`` with its hyperparameters.

    Args:
        cfg: the full resolved config as plain data (with the trial's sampled values applied).
        on_evaluation: called after every evaluation with the metrics and a :class:`Snapshot`
            (with ``trainer.cv_folds``: once per fold, with the mean over the folds so far).
        num_threads: torch CPU threads; a trial sets it from its CPU share.
        resume: continue exactly where a checkpoint left off (same batches, same schedule).
        distributed: this rank of a data-parallel trial (``resources.workers_per_trial`` > 1):
            DDP and this rank's share of the batches.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
        TrialOutOfMemoryError: a step ran out of memory.
    """
    trainer = cfg["trainer"]
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if num_threads:
        torch.set_num_threads(max(1, int(num_threads)))
    task = get_task(trainer.get("task", "classification"))
    splits = task.load_splits(cfg["data"], seed=cfg["sweep"].get("seed", 0))
    if trainer.get("cv_folds"):
        from hpo.trainers.runs.cross_validation import cross_validate

        return cross_validate(cfg, task, splits, on_evaluation, resume)
    return train_on_splits(cfg, task, splits, on_evaluation, resume, distributed)


def train_on_splits(
    cfg: dict[str, Any],
    task: Task,
    splits: LabelledSplits,
    on_evaluation: OnEvaluation,
    resume: ResumeState | None = None,
    distributed: DataParallel | None = None,
) -> FineTuneResult:
    """One training run on already loaded splits (the whole data, or one cross-validation fold)."""
    trainer, sweep = cfg["trainer"], cfg["sweep"]
    set_seed(trainer["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() and _wants_gpu(cfg) else "cpu")
    autocast, scaler = precision_context(trainer.get("precision", "fp32"), device)

    tokenizer = load_tokenizer(cfg["model"])
    data = task.prepare(splits, tokenizer, trainer)
    model_cfg, adapt_metrics = cfg["model"], dict(resume.training_state.get("adapt_metrics") or {}) if resume else {}
    adapted_dir = None
    adapt = trainer.get("domain_adaptation") or {}
    if adapt.get("enabled") and resume is None:  # a resumed trial's checkpoint already holds the adapted encoder
        model_cfg, adapt_metrics, adapted_dir = _adapt_encoder(cfg, adapt, splits, tokenizer, device)
        set_seed(trainer["seed"])  # stage one must not shift the new head's initialisation
    model = task.build_model(model_cfg, data, trainer)
    if adapted_dir is not None:
        adapted_dir.cleanup()
    if resume is not None:
        model.load_state_dict(resume.weights, strict=False)
    freeze(model, trainer.get("freeze", "none"), trainer.get("freeze_layers", 0))
    model.to(device)
    forward_model = torch.compile(model, dynamic=True) if trainer.get("compile") else model
    if distributed is not None:  # gradients averaged over the ranks; evaluation and saving use the bare model
        forward_model = distributed.wrap(forward_model)
    collate = task.collator(tokenizer)
    generator = torch.Generator().manual_seed(trainer["seed"])
    sampler = LengthGroupedSampler(trainer["batch_size"], lengths=[len(r["input_ids"]) for r in data.train_rows], generator=generator)
    batching = {"batch_size": trainer["batch_size"], "sampler": sampler} if distributed is None else {
        "batch_sampler": distributed.batches(sampler, trainer["batch_size"])}
    train_loader = DataLoader(
        data.train_rows,
        **batching,
        collate_fn=collate,
        # its own generator: drawing the loader's base seed from the global RNG would shift the
        # dropout masks of a resumed run
        generator=torch.Generator().manual_seed(trainer["seed"]),
    )
    accumulate = max(1, int(trainer.get("gradient_accumulation_steps") or 1))
    batches_per_epoch = len(train_loader)
    steps_per_epoch = math.ceil(batches_per_epoch / accumulate)  # optimizer steps
    total_steps = steps_per_epoch * trainer["epochs"]
    optimizer = torch.optim.AdamW(
        param_groups(model, trainer["learning_rate"], trainer["weight_decay"], trainer.get("layer_lr_decay", 1.0)),
        lr=trainer["learning_rate"],
        fused=fused_adamw_available(device),
    )
    scheduler = get_scheduler(
        trainer.get("lr_scheduler", "linear"), optimizer,
        num_warmup_steps=math.ceil(trainer.get("warmup_ratio", 0.0) * total_steps),
        num_training_steps=total_steps,
    )
    eval_every = trainer.get("eval_every_steps") or steps_per_epoch
    planned = math.ceil(total_steps / eval_every)  # lets the sweep tell "stopped early" from "finished"
    result = FineTuneResult()
    metric, mode = sweep["metric"], sweep["mode"]

    early_stopping = build_early_stopping(trainer, mode)
    step = 0
    if resume is not None:
        state = resume.training_state
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        generator.set_state(state["epoch_generator_state"])
        torch.set_rng_state(state["torch_rng_state"])
        step, result.best, result.history = state["step"], state["best"], state["history"]
        if early_stopping is not None and state.get("early_stopping"):
            early_stopping.load_state(state["early_stopping"])
    fault = None if resume is not None else trainer.get("inject_fault")
    fault_step = trainer.get("inject_fault_at_step", 1)

    loss_sum, loss_count, samples, started = 0.0, 0, 0, time.perf_counter()
    for epoch in range(step // steps_per_epoch, trainer["epochs"]):
        epoch_generator_state = generator.get_state()
        skip = (step - epoch * steps_per_epoch) * accumulate  # batches of this epoch done before a resume
        model.train()
        for index, batch in enumerate(train_loader):
            if index < skip:
                continue
            group_start = index - index % accumulate
            group_size = min(accumulate, batches_per_epoch - group_start)  # the epoch's last group may be short
            inject = fault if step + 1 == fault_step and index == group_start else None
            try:
                if inject:
                    _inject(inject, step + 1)
                samples += len(batch["input_ids"])
                loss = _backward(forward_model, batch, task, trainer, data, device, autocast, scaler,
                                 scale=1.0 / group_size, nan=inject == "nan")
                if not math.isfinite(loss):
                    raise NonFiniteLossError(f"training loss became {loss} at step {step + 1} (learning_rate={trainer['learning_rate']})")
                loss_sum, loss_count = loss_sum + loss, loss_count + 1
                if index + 1 - group_start < group_size:
                    continue
                _optimizer_step(model, optimizer, scheduler, scaler, trainer.get("max_grad_norm"))
            except (torch.OutOfMemoryError, MemoryError) as exc:
                raise TrialOutOfMemoryError(
                    f"out of memory at step {step + 1} (batch_size={trainer['batch_size']}, max_seq_length={trainer['max_seq_length']}): "
                    "lower trainer.batch_size or trainer.max_seq_length (raise trainer.gradient_accumulation_steps to keep the "
                    f"effective batch), use trainer.precision=bf16, or give trials more memory ({exc})"
                ) from None
            step += 1
            if step % eval_every == 0 or step == total_steps:
                metrics, evaluation = task.evaluate(model, data, collate, trainer, device, autocast)
                metrics.update({
                    "train/loss": loss_sum / max(1, loss_count),
                    "epoch": step / steps_per_epoch,
                    "step": step,
                    "evaluations_planned": planned,
                    **data.report,
                    **adapt_metrics,
                    "train/samples_per_second": samples / (time.perf_counter() - started),
                })
                loss_sum, loss_count, samples = 0.0, 0, 0
                result.history.append(metrics)
                if is_better(metrics[metric], result.best[metric] if result.best else None, mode):
                    result.best = metrics
                stop = early_stopping is not None and early_stopping.update(metrics[metric], model)
                at_epoch_end = step % steps_per_epoch == 0
                training_state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    # a resume re-enters the epoch it stopped in, so it needs the sampler's state at that epoch's start
                    "epoch_generator_state": generator.get_state() if at_epoch_end else epoch_generator_state,
                    "torch_rng_state": torch.get_rng_state(),
                    "step": step,
                    "best": result.best,
                    "history": result.history,
                    "early_stopping": early_stopping.state() if early_stopping else None,
                    "adapt_metrics": adapt_metrics,
                }
                on_evaluation(metrics, Snapshot(model, tokenizer, training_state, evaluation))
                if stop:
                    early_stopping.restore_best(model)
                    return result
                started = time.perf_counter()
                model.train()
    if early_stopping is not None:
        early_stopping.restore_best(model)
    return result


def fused_adamw_available(device: torch.device) -> bool:
    """Fused AdamW: one kernel for every parameter. On CPU the per-tensor loop of the default
    implementation cost more than forward and backward together for MiniLM (benchmarks/throughput);
    the fused kernel exists on CUDA and, from torch 2.4, on CPU."""
    if device.type == "cuda":
        return True
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cpu" and (major, minor) >= (2, 4)


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_context(precision: str, device: torch.device) -> tuple[Callable[[], Any], Any]:
    """An autocast context factory for ``precision`` and, for fp16, the gradient scaler it needs.

    bf16 keeps fp32's range, so it needs no loss scaling and works on CPUs too; fp16 needs a
    GPU and a ``GradScaler`` against underflowing gradients.

    Raises:
        ConfigError: an unknown precision, or fp16 without a GPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError("trainer.precision", "unknown precision", value=precision, choices=list(PRECISIONS))
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext, None
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision", "fp16 needs a GPU (resources=gpu); on CPUs use bf16", value=precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return functools.partial(torch.autocast, device.type, dtype=dtype), scaler


def _adapt_encoder(cfg, adapt, splits, tokenizer, device):
    """Stage one of a two-stage trial: continued masked-LM training on in-domain text."""
    from hpo.trainers.models.domain_adaptation import adapt_encoder, load_unlabelled_texts

    texts = load_unlabelled_texts(adapt, list(splits.train["text"]))
    folder = tempfile.TemporaryDirectory(prefix="hpo-adapted-")
    model_cfg, metrics = adapt_encoder(cfg["model"], adapt, texts, tokenizer, folder.name, seed=cfg["trainer"]["seed"], device=device)
    return model_cfg, metrics, folder


def _backward(model, batch, task: Task, trainer, data, device, autocast, scaler, scale: float = 1.0, nan: bool = False) -> float:
    """Forward and backward of one micro-batch; returns its unscaled loss (not propagated if not finite)."""
    batch = {k: v.to(device) for k, v in batch.items()}
    with autocast():
        loss = task.loss(model, batch, trainer, data)
    if nan:
        loss = loss * float("nan")
    if not torch.isfinite(loss):
        return float(loss.item())
    (scaler.scale(loss * scale) if scaler is not None else loss * scale).backward()
    return float(loss.item())


def _optimizer_step(model, optimizer, scheduler, scaler, max_grad_norm: float | None) -> None:
    if scaler is not None:
        scaler.unscale_(optimizer)
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_((p for p in model.parameters() if p.requires_grad), max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _inject(fault: str, step: int) -> None:
    if fault == "exception":
        raise InjectedFaultError(f"injected exception at step {step}")
    if fault == "oom":
        raise MemoryError(f"injected out-of-memory at step {step}")


def _wants_gpu(cfg: dict[str, Any]) -> bool:
    return float(cfg.get("resources", {}).get("gpus_per_trial", 0) or 0) > 0
