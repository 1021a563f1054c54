"""The config that retrains one trial of a sweep: the sweep's config with the trial's values (and a PBT
trial's schedule of changes). Export writes it into each bundle; test scoring builds each model with it."""

from __future__ import annotations

from typing import Any

from hpo.params import apply_params
from hpo.search.results.pbt_schedule import read_schedule
from hpo.search.results.records import TrialRecord


def trial_config(cfg: dict[str, Any], record: TrialRecord) -> dict[str, Any]:
    """The full config that retrains a trial: the sweep's with the trial's values. A PBT trial's
    values changed as it ran; its config holds the values its lineage started with and the
    changes as ``trainer.pbt_schedule``, which ``hpo train`` replays."""
    schedule = read_schedule(record.path.parent, record.trial_id) if record.path is not None else None
    if schedule is None:
        return apply_params(cfg, record.params)
    initial, changes = schedule
    config = apply_params(cfg, initial)
    config["trainer"]["pbt_schedule"] = changes
    return config
