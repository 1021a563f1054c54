"""Replaying a Population Based Training schedule in one run (``trainer.pbt_schedule``).

PBT finds a schedule, not one configuration: the winner's learning rate, weight decay, dropout or
warmup changed each time it copied a better trial and perturbed its values. The export writes that
schedule into the winner's config as ``[{evaluation: n, params: {dotted key: value}}]`` (read from
Ray Tune's policy files, as Ray's ``PopulationBasedTrainingReplay`` reads them), and a run with it
changes the values after its n-th evaluation, where the PBT trial continued with new ones.
"""

from __future__ import annotations

from typing import Any

import torch

from hpo.params import apply_params
from hpo.trainers.engine.engine import Engine
from hpo.trainers.models.modeling import set_dropout


def changes_after(schedule: list[dict[str, Any]], evaluations_done: int) -> dict[str, Any]:
    """The values a schedule sets once ``evaluations_done`` evaluations are done (empty: none)."""
    changes: dict[str, Any] = {}
    for entry in schedule:
        if entry["evaluation"] == evaluations_done:
            changes.update(entry["params"])
    return changes


def apply_changes(trainer: dict[str, Any], changes: dict[str, Any], engine: Engine, model: torch.nn.Module, total_steps: int) -> None:
    """Set ``changes`` in ``trainer`` (in place) and in the running optimizer, schedule and model."""
    trainer.update(apply_params({"trainer": trainer}, changes)["trainer"])
    engine.retune(trainer, total_steps)
    if "trainer.dropout" in changes and trainer["dropout"] is not None:
        set_dropout(model, trainer["dropout"])
