"""One optimizer step at a time: precision, gradient accumulation, clipping, the optimizer and the schedule.

The :class:`Engine` knows nothing of tasks, data or evaluation: it is handed micro-batches and a
loss function, and steps the optimizer once per accumulation group. Under DDP it all-reduces
once per optimizer step: every micro-batch but the last of a group runs in DDP's ``no_sync()``,
so the gradients of a group add up on each rank first (all-reducing every micro-batch would
cost ``gradient_accumulation_steps`` times the communication for the same result).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from transformers import get_scheduler

from hpo.errors import ConfigError
from hpo.trainers.engine.faults import non_finite_loss
from hpo.trainers.engine.state import TrainingState
from hpo.trainers.models.optim import param_groups

AutocastFactory = Callable[[], AbstractContextManager[Any]]
LossFunction = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_context(precision: str, device: torch.device) -> tuple[AutocastFactory, torch.amp.GradScaler | None]:
    """An autocast context factory for ``precision`` and, for fp16, the gradient scaler it needs.

    bf16 keeps fp32's range, so it needs no loss scaling and works on CPUs too; fp16 needs a
    GPU and a ``GradScaler`` against underflowing gradients. The config check has rejected
    unknown names; whether a GPU is there is only known here.

    Raises:
        ConfigError: fp16 without a GPU.
    """
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext, None
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision", "fp16 needs a GPU (resources=gpu); on CPUs use bf16", value=precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return functools.partial(torch.autocast, device.type, dtype=dtype), scaler


def fused_adamw_available(device: torch.device) -> bool:
    """Fused AdamW: one kernel for every parameter. On CPU the per-tensor loop of the default
    implementation cost more than forward and backward together for MiniLM (benchmarks/throughput);
    the fused kernel exists on CUDA and, from torch 2.4, on CPU."""
    if device.type == "cuda":
        return True
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cpu" and (major, minor) >= (2, 4)


@dataclass
class Engine:
    """Trains one model: a micro-batch at a time in, an optimizer step per accumulation group out.

    Attributes:
        model: the bare model: its gradients are clipped and its weights are what gets saved.
        forward_model: what the batches run through: the model, compiled and/or DDP-wrapped.
        accumulate: micro-batches per optimizer step (``trainer.gradient_accumulation_steps``).
        steps: optimizer steps done, restored on resume.
    """

    model: torch.nn.Module
    forward_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    accumulate: int = 1
    max_grad_norm: float | None = None
    autocast: AutocastFactory = contextlib.nullcontext
    scaler: torch.amp.GradScaler | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    steps: int = 0

    @classmethod
    def create(
        cls, model: torch.nn.Module, forward_model: torch.nn.Module, trainer: dict[str, Any], total_steps: int,
        device: torch.device, precision: tuple[AutocastFactory, torch.amp.GradScaler | None],
    ) -> Engine:
        """AdamW (layer-wise rates, no decay on biases and norms) and the configured schedule over ``total_steps``.

        Args:
            precision: from :func:`precision_context`, made before the model so that fp16 on a
                CPU fails before any work.
        """
        autocast, scaler = precision
        optimizer = torch.optim.AdamW(
            param_groups(model, trainer["learning_rate"], trainer["weight_decay"], trainer["layer_lr_decay"]),
            lr=trainer["learning_rate"],
            fused=fused_adamw_available(device),
        )
        scheduler = _schedule(trainer, optimizer, total_steps)
        return cls(model, forward_model, optimizer, scheduler, trainer["gradient_accumulation_steps"],
                   trainer["max_grad_norm"], autocast, scaler, device)

    def starts_group(self, index: int) -> bool:
        """Whether micro-batch ``index`` of an epoch begins an optimizer step."""
        return index % self.accumulate == 0

    def train_micro_batch(
        self, batch: dict[str, torch.Tensor], loss_of: LossFunction, index: int, batches_per_epoch: int, poison: bool = False,
    ) -> tuple[float, bool]:
        """Forward and backward of micro-batch ``index`` of an epoch; the optimizer steps after a group's last.

        The epoch's last group may be short: each micro-batch's loss is divided by its group's
        size, so a group's gradient is the mean over its micro-batches, as one large batch's.

        Args:
            poison: multiply the loss by NaN (the injected ``nan`` fault).

        Returns:
            The micro-batch's unscaled loss, and whether the optimizer stepped.

        Raises:
            NonFiniteLossError: the loss is NaN or infinite (nothing is propagated or stepped).
        """
        start = index - index % self.accumulate
        size = min(self.accumulate, batches_per_epoch - start)
        last = index + 1 - start == size
        loss = self.backward(batch, loss_of, scale=1.0 / size, sync=last, poison=poison)
        if not math.isfinite(loss):
            raise non_finite_loss(loss, self.steps + 1, self.optimizer.defaults["lr"])
        if last:
            self.step()
        return loss, last

    def backward(
        self, batch: dict[str, torch.Tensor], loss_of: LossFunction, scale: float = 1.0, sync: bool = True, poison: bool = False,
    ) -> float:
        """Forward and backward of one micro-batch, gradients added to those of the group so far.

        Args:
            sync: all-reduce the gradients (DDP) in this backward; False inside an accumulation group.

        Returns:
            The unscaled loss (not propagated if not finite).
        """
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with self._no_sync(not sync):
            with self.autocast():
                loss = loss_of(self.forward_model, batch)
            if poison:
                loss = loss * float("nan")
            if not torch.isfinite(loss):
                return float(loss.item())
            (self.scaler.scale(loss * scale) if self.scaler is not None else loss * scale).backward()
        return float(loss.item())

    def step(self) -> None:
        """Unscale (fp16), clip, step the optimizer and the schedule, clear the gradients."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_((p for p in self.model.parameters() if p.requires_grad), self.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1

    def save_state(self, **run: Any) -> TrainingState:
        """The training state now: the engine's part, torch's RNG, and ``run``'s fields (history, best, ...)."""
        return TrainingState(
            step=self.steps,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler is not None else None,
            torch_rng_state=torch.get_rng_state(),
            **run,
        )

    def restore(self, state: TrainingState) -> None:
        """Continue exactly where ``state`` was saved: optimizer, schedule, loss scale, step and torch's RNG.

        Call it last, once everything that draws from torch's RNG (the model's new head) is built.
        """
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        if self.scaler is not None and state.scaler:
            self.scaler.load_state_dict(state.scaler)
        torch.set_rng_state(state.torch_rng_state)
        self.steps = state.step

    def retune(self, trainer: dict[str, Any], total_steps: int) -> None:
        """Take ``trainer``'s learning rate, weight decay and warmup, keeping the optimizer's moments
        and the schedule's position.

        Population Based Training restarts a trial from another trial's checkpoint with perturbed
        values, and ``hpo train`` replays those changes (``trainer.pbt_schedule``); a checkpoint's
        optimizer state would otherwise bring back the values it was saved with. With the values
        the state was saved with, nothing changes: the rate is the schedule's own formula.
        """
        fresh = param_groups(self.model, trainer["learning_rate"], trainer["weight_decay"], trainer["layer_lr_decay"])
        probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)  # to build the new schedule's lambda on
        lambdas = getattr(_schedule(trainer, probe, total_steps), "lr_lambdas", None)
        groups = self.optimizer.param_groups
        for group, new in zip(groups, fresh, strict=True):
            if lambdas is None:  # a schedule that is no function of the step (reduce_lr_on_plateau): scale its rate
                group["lr"] *= new["lr"] / group.get("initial_lr", group["lr"])
            group["initial_lr"], group["weight_decay"] = new["lr"], new["weight_decay"]
        if lambdas is None:
            return
        (lr_lambda,) = lambdas
        self.scheduler.base_lrs = [group["initial_lr"] for group in groups]
        self.scheduler.lr_lambdas = [lr_lambda] * len(groups)
        for group, base in zip(groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = base * lr_lambda(self.scheduler.last_epoch)
        self.scheduler._last_lr = [group["lr"] for group in groups]

    @property
    def learning_rate(self) -> float:
        """The top layer's current rate (the configured one, through the schedule)."""
        return float(self.optimizer.param_groups[-1]["lr"])

    def _no_sync(self, skip: bool) -> AbstractContextManager[Any]:
        if skip and isinstance(self.forward_model, DistributedDataParallel):
            return self.forward_model.no_sync()
        return contextlib.nullcontext()


def _schedule(trainer: dict[str, Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """transformers' named schedule over ``total_steps``, with ``trainer.warmup_ratio`` of them warming up."""
    return get_scheduler(
        trainer["lr_scheduler"], optimizer,
        num_warmup_steps=math.ceil(trainer["warmup_ratio"] * total_steps),
        num_training_steps=total_steps,
    )
