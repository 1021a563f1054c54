"""A PBT lineage's schedule, read from Ray Tune's policy files, and its replay by the training loop:
deterministic checks of what tests/test_pbt_e2e.py checks on a real population when its copies allow."""

from __future__ import annotations

import json
from pathlib import Path

from hpo.search.results.pbt_schedule import read_schedule
from hpo.trainers.runs.fine_tune import fine_tune
from tests.test_loop import config

D_TAG, X_TAG = "0_trainer_learning_rate=0.0001", "1_trainer_learning_rate=0.0003"


def policy_row(target: str, donor: str, target_step: int, donor_step: int, donor_config: dict, new_config: dict) -> str:
    """One line as Ray's PopulationBasedTraining writes it: [target, donor, their iterations, donor's values, new values]."""
    return json.dumps([target, donor, target_step, donor_step, donor_config, new_config])


def test_the_schedule_is_the_donors_values_then_each_later_copys_changes(tmp_path: Path) -> None:
    donor = {"trainer.learning_rate": 1e-4, "trainer.batch_size": 16}
    # X copied D after D's 2nd evaluation (perturbing the rate), then again after D's 3rd: the first
    # copy's weights were overwritten, so only the last copy's lineage counts
    rows = [policy_row(X_TAG, D_TAG, 1, 2, donor, {**donor, "trainer.learning_rate": 2e-4}),
            policy_row(X_TAG, D_TAG, 3, 3, donor, {**donor, "trainer.learning_rate": 1.2e-4})]
    (tmp_path / "pbt_policy_x.txt").write_text("\n".join(rows) + "\n")
    initial, schedule = read_schedule(tmp_path, "x")
    assert initial == donor
    assert schedule == [{"evaluation": 3, "params": {"trainer.learning_rate": 1.2e-4}}]
    assert read_schedule(tmp_path, "never-copied") is None


def test_a_replayed_schedule_changes_the_rate_after_its_evaluation() -> None:
    cfg = config("trainer.epochs=3", "trainer.lr_scheduler=constant", "trainer.warmup_ratio=0.0", "trainer.learning_rate=1e-4")
    cfg["trainer"]["pbt_schedule"] = [{"evaluation": 2, "params": {"trainer.learning_rate": 3e-4}}]
    seen: list[dict] = []
    fine_tune(cfg, lambda metrics, snapshot: seen.append(metrics), num_threads=1)
    assert [m["train/learning_rate"] for m in seen] == [1e-4, 1e-4, 3e-4]
