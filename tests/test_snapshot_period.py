"""hpo's experiment-state snapshots: every second while saving is cheap, backing off when it is not."""

from __future__ import annotations

from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

from hpo.search.run.sweep import SNAPSHOT_PERIOD_FACTOR, bound_experiment_snapshots


def test_period_keeps_its_floor_and_backs_off_to_five_percent() -> None:
    bound_experiment_snapshots()
    bound_experiment_snapshots()  # idempotent: wrapping twice would compound
    manager = _ExperimentCheckpointManager(storage=None, checkpoint_period=1)
    manager._update_auto_checkpoint_time(time_taken=0.01)
    assert manager._checkpoint_period == 1.0  # cheap saves: every second, as `hpo resume` promises
    manager._update_auto_checkpoint_time(time_taken=0.2)  # a large sweep's slow save
    assert manager._checkpoint_period == 0.2 * SNAPSHOT_PERIOD_FACTOR
    manager._update_auto_checkpoint_time(time_taken=0.02)
    assert manager._checkpoint_period == 1.0  # back to the floor, not to the last period


def test_ray_auto_mode_is_left_to_ray() -> None:
    bound_experiment_snapshots()
    manager = _ExperimentCheckpointManager(storage=None, checkpoint_period="auto")
    manager._update_auto_checkpoint_time(time_taken=0.01)
    assert manager._checkpoint_period == 10.0  # Ray's own floor for "auto"
