"""Why a trial ends as failed, and the faults ``trainer.inject_fault`` rehearses.

Each failure has its own error type, so the sweep's records (``error.txt``, the leaderboard)
say what went wrong and what to change, rather than a bare ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the trial cannot recover, so it ends as failed."""


class TrialOutOfMemoryError(RuntimeError):
    """The trial ran out of (GPU or host) memory; the message says which settings to lower."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint to continue from cannot be read (truncated or damaged files): the trial fails with the
    file and the reason, and the sweep goes on with its other trials."""


class InjectedFaultError(RuntimeError):
    """A fault asked for by ``trainer.inject_fault``, to rehearse retries and failure handling."""


@dataclass(frozen=True)
class FaultInjection:
    """``trainer.inject_fault`` at ``trainer.inject_fault_at_step``: retries and failure records
    can be rehearsed on a real sweep. A resumed run injects nothing, so a retry can succeed."""

    fault: str | None
    at_step: int

    def fire(self, step: int, starts_group: bool) -> bool:
        """Raise the fault when optimizer step ``step`` begins (its first micro-batch).

        Returns:
            True when the step's loss must be poisoned (the ``nan`` fault): the engine then
            meets a non-finite loss as a diverging run would.

        Raises:
            InjectedFaultError: the ``exception`` fault.
            MemoryError: the ``oom`` fault, reported as :class:`TrialOutOfMemoryError`.
        """
        if self.fault is None or step != self.at_step or not starts_group:
            return False
        if self.fault == "exception":
            raise InjectedFaultError(f"injected exception at step {step}")
        if self.fault == "oom":
            raise MemoryError(f"injected out-of-memory at step {step}")
        return self.fault == "nan"


@contextlib.contextmanager
def out_of_memory_hint(trainer: dict[str, Any], step: int) -> Iterator[None]:
    """Turn an out-of-memory error during ``step`` into a :class:`TrialOutOfMemoryError` naming the settings to lower.

    Raises:
        TrialOutOfMemoryError: the block ran out of GPU or host memory.
    """
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise TrialOutOfMemoryError(
            f"out of memory at step {step} (batch_size={trainer['batch_size']}, max_seq_length={trainer['max_seq_length']}): "
            "lower trainer.batch_size or trainer.max_seq_length (raise trainer.gradient_accumulation_steps to keep the "
            f"effective batch), use trainer.precision=bf16, or give trials more memory ({exc})"
        ) from None


def non_finite_loss(loss: float, step: int, learning_rate: float) -> NonFiniteLossError:
    """The error for a NaN or infinite training loss at ``step``."""
    return NonFiniteLossError(f"training loss became {loss} at step {step} (learning_rate={learning_rate})")
