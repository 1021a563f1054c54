"""The fine-tuning loop run by every trial and by ``hpo train``.

A lean loop instead of ``transformers.Trainer``: the sweep owns logging and checkpoints, so the
loop only trains, evaluates and hands each evaluation to a callback (``tune.report`` in a trial,
a file writer in ``hpo train``). It pads each batch dynamically and groups batches by length,
which matters most on CPUs, where padding is paid for in full.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedModel, PreTrainedTokenizerBase, get_scheduler, set_seed
from transformers import logging as hf_logging
from transformers.trainer_pt_utils import LengthGroupedSampler

from trainers.data import LabelledSplits, load_splits
from trainers.early_stopping import build_early_stopping
from trainers.evaluation import EvalOutput, evaluate_rows
from trainers.imbalance import class_weights, resample
from trainers.metrics import classification_scorer
from trainers.modeling import build_classifier, freeze, load_tokenizer

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")
TRAINING_STATE_FILE = "training_state.pt"
FAULTS = ("exception", "nan", "oom")


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
    evaluation: EvalOutput | None = None

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


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` under the sweep's mode (``max`` or ``min``)."""
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def fine_tune(
    cfg: dict[str, Any],
    on_evaluation: OnEvaluation,
    num_threads: int | None = None,
    resume: ResumeState | None = None,
) -> FineTuneResult:
    """Fine-tune ``cfg['model']`` on ``cfg['data']`` with ``cfg['trainer']``'s hyperparameters.

    Args:
        cfg: the full resolved config as plain data (with the trial's sampled values applied).
        on_evaluation: called after every evaluation with the metrics and a :class:`Snapshot`.
        num_threads: torch CPU threads; a trial sets it from its CPU share.
        resume: continue exactly where a checkpoint left off (same batches, same schedule).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
        TrialOutOfMemoryError: a step ran out of memory.
    """
    trainer, sweep = cfg["trainer"], cfg["sweep"]
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if num_threads:
        torch.set_num_threads(max(1, int(num_threads)))
    set_seed(trainer["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() and _wants_gpu(cfg) else "cpu")

    splits = load_splits(cfg["data"], seed=sweep.get("seed", 0))
    tokenizer = load_tokenizer(cfg["model"])
    model = build_classifier(cfg["model"], splits.label_names, trainer.get("dropout"))
    if resume is not None:
        model.load_state_dict(resume.weights, strict=False)
    freeze(model, trainer.get("freeze", "none"), trainer.get("freeze_layers", 0))
    model.to(device)
    train_rows, eval_rows = _tokenize(splits, tokenizer, trainer["max_seq_length"])
    train_rows = resample(train_rows, trainer.get("resample", "none"), seed=trainer["seed"])
    weights = class_weights(train_rows, trainer.get("class_weights", "none"), splits.num_labels)
    weights = weights.to(device) if weights is not None else None
    collate = DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(trainer["seed"])
    train_loader = DataLoader(
        train_rows,
        batch_size=trainer["batch_size"],
        sampler=LengthGroupedSampler(trainer["batch_size"], lengths=[len(r["input_ids"]) for r in train_rows], generator=generator),
        collate_fn=collate,
        # its own generator: drawing the loader's base seed from the global RNG would shift the
        # dropout masks of a resumed run
        generator=torch.Generator().manual_seed(trainer["seed"]),
    )
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * trainer["epochs"]
    optimizer = torch.optim.AdamW(_param_groups(model, trainer["weight_decay"]), lr=trainer["learning_rate"])
    scheduler = get_scheduler(
        trainer.get("lr_scheduler", "linear"), optimizer,
        num_warmup_steps=math.ceil(trainer.get("warmup_ratio", 0.0) * total_steps),
        num_training_steps=total_steps,
    )
    score = classification_scorer(trainer["metrics"], splits.num_labels, trainer.get("average", "auto"))
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
        generator.set_state(state["epoch_generator_state"])
        torch.set_rng_state(state["torch_rng_state"])
        step, result.best, result.history = state["step"], state["best"], state["history"]
        if early_stopping is not None and state.get("early_stopping"):
            early_stopping.load_state(state["early_stopping"])
    fault = None if resume is not None else trainer.get("inject_fault")
    fault_step = trainer.get("inject_fault_at_step", 1)

    loss_sum, loss_count, started = 0.0, 0, time.perf_counter()
    for epoch in range(step // steps_per_epoch, trainer["epochs"]):
        epoch_generator_state = generator.get_state()
        skip = step - epoch * steps_per_epoch  # batches of this epoch done before a resume
        model.train()
        for index, batch in enumerate(train_loader):
            if index < skip:
                continue
            inject = fault if step + 1 == fault_step else None
            try:
                if inject:
                    _inject(inject, step + 1)
                loss = _train_step(
                    model, batch, optimizer, scheduler, device,
                    label_smoothing=trainer.get("label_smoothing", 0.0),
                    weights=weights,
                    max_grad_norm=trainer.get("max_grad_norm"),
                    nan=inject == "nan",
                )
            except (torch.OutOfMemoryError, MemoryError) as exc:
                raise TrialOutOfMemoryError(
                    f"out of memory at step {step + 1} (batch_size={trainer['batch_size']}, max_seq_length={trainer['max_seq_length']}): "
                    f"lower trainer.batch_size or trainer.max_seq_length, or give trials more memory ({exc})"
                ) from None
            if not math.isfinite(loss):
                raise NonFiniteLossError(f"training loss became {loss} at step {step + 1} (learning_rate={trainer['learning_rate']})")
            step += 1
            loss_sum, loss_count = loss_sum + loss, loss_count + 1
            if step % eval_every == 0 or step == total_steps:
                metrics, evaluation = evaluate_rows(model, eval_rows, collate, trainer["eval_batch_size"], score, device, splits.label_names)
                metrics.update({
                    "train/loss": loss_sum / loss_count,
                    "epoch": step / steps_per_epoch,
                    "step": step,
                    "evaluations_planned": planned,
                    **splits.report,
                    "train/samples_per_second": loss_count * trainer["batch_size"] / (time.perf_counter() - started),
                })
                loss_sum, loss_count = 0.0, 0
                result.history.append(metrics)
                if is_better(metrics[metric], result.best[metric] if result.best else None, mode):
                    result.best = metrics
                stop = early_stopping is not None and early_stopping.update(metrics[metric], model)
                at_epoch_end = step % steps_per_epoch == 0
                training_state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    # a resume re-enters the epoch it stopped in, so it needs the sampler's state at that epoch's start
                    "epoch_generator_state": generator.get_state() if at_epoch_end else epoch_generator_state,
                    "torch_rng_state": torch.get_rng_state(),
                    "step": step,
                    "best": result.best,
                    "history": result.history,
                    "early_stopping": early_stopping.state() if early_stopping else None,
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


def _train_step(
    model, batch, optimizer, scheduler, device, label_smoothing: float = 0.0, max_grad_norm: float | None = None,
    weights: torch.Tensor | None = None, nan: bool = False,
) -> float:
    batch = {k: v.to(device) for k, v in batch.items()}
    labels = batch.pop("labels")
    logits = model(**batch).logits
    loss = torch.nn.functional.cross_entropy(logits, labels, weight=weights, label_smoothing=label_smoothing)
    if nan:
        loss = loss * float("nan")
    if not torch.isfinite(loss):
        return float(loss.item())
    loss.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_((p for p in model.parameters() if p.requires_grad), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.item())


def _inject(fault: str, step: int) -> None:
    if fault == "exception":
        raise InjectedFaultError(f"injected exception at step {step}")
    if fault == "oom":
        raise MemoryError(f"injected out-of-memory at step {step}")


def _wants_gpu(cfg: dict[str, Any]) -> bool:
    return float(cfg.get("resources", {}).get("gpus_per_trial", 0) or 0) > 0


def _tokenize(splits: LabelledSplits, tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[list[dict], list[dict]]:
    """Tokenised rows (lists of ids, unpadded): padding happens per batch in the collator."""
    def encode(batch: dict[str, list]) -> dict[str, list]:
        pair = batch.get("text_pair")
        return tokenizer(batch["text"], pair, truncation=True, max_length=max_length)

    rows = []
    for dataset in (splits.train, splits.eval):
        encoded = dataset.map(encode, batched=True, remove_columns=[c for c in dataset.column_names if c != "label"])
        encoded = encoded.rename_column("label", "labels")
        rows.append(encoded.to_list())
    return rows[0], rows[1]


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and LayerNorm weights, as in BERT's recipe."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if any(n in name for n in NO_DECAY) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
