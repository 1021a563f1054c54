"""Sweep-level budgets (``sweep.budget``) stop real Ray Tune sweeps where they should.

The epoch budget runs real fine-tuning trials; the target, plateau and wall-time budgets are about
the driver, so their trials are a cheap function that reports like a fine-tuning trial does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from hpo.errors import ConfigError
from hpo.search.results.export import export
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
SMALL = [*TINY_SST2, "data.max_train_samples=96", "data.max_eval_samples=48", "logger=none", "resources.reuse_workers=true",
         "searcher=random", "scheduler=fifo"]


def reports_epochs(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """Four evaluations of one epoch each; the metric is the trial's learning rate times the epoch,
    or a constant when the test asks for a flat sweep. Each epoch is a tenth of a second of work."""
    flat = base_config["sweep"]["name"] == "flat"
    for epoch in range(1, 5):
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:  # busy: a trial's compute, not a wait for anything
            pass
        value = 0.5 if flat else params["trainer.learning_rate"] * 1000 * epoch
        tune.report({"eval/accuracy": value, "epoch": float(epoch), "evaluations_planned": 4})


def budget_record(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / "budget.json").read_text())


def test_an_epoch_budget_stops_real_trials_and_the_leaderboard_says_so(ray_session, out_dir: Path, capsys) -> None:
    prepared = prepare("demo", [*SMALL, "sweep.num_trials=6", "trainer.epochs=2", "sweep.budget.epochs=3",
                                f"sweep.output_dir={out_dir}"])
    summary = export(run(prepared, verbose=True))
    record = budget_record(out_dir)
    assert record["stopped_by"].startswith("epochs budget spent")
    # two trials run at once: the sweep stops at the first result past 3 epochs, so at most one more is in flight
    assert 3 <= record["spent"]["epochs"] < 5
    epochs_reported = sum(r.history["epoch"].max() for r in summary.records if r.evaluations)
    assert epochs_reported == pytest.approx(record["spent"]["epochs"])
    assert len(summary.records) < 6
    header = (out_dir / "leaderboard.md").read_text().split("|")[0]
    assert "Budget: epochs=3" in header and "stopped by epochs budget spent" in header
    out = capsys.readouterr().out
    assert "| budget " in out and "/3 ep" in out and "Sweep stopped early, epochs budget spent" in out


@pytest.mark.parametrize(
    ("overrides", "reason", "most_trials"),
    [
        # learning rates from 1e-4: 1e-4 x 1000 x epoch reaches 0.4 at the latest on the 4th epoch of the first trial
        (["sweep.budget.target=0.4", "search_space.trainer.learning_rate.low=1e-4"], "target reached", 2),
        # every trial scores 0.5: the first sets the best, the next two end without improving it
        (["sweep.name=flat", "sweep.budget.plateau_trials=2"], "plateau: 2 trials in a row", 5),
        (["sweep.budget.wall_time_s=2"], "wall-time budget spent", 19),
    ],
    ids=["target", "plateau", "wall_time"],
)
def test_each_budget_stops_the_sweep(ray_session, out_dir: Path, overrides: list[str], reason: str, most_trials: int) -> None:
    prepared = prepare("demo", [*SMALL, "sweep.num_trials=40", f"sweep.output_dir={out_dir}", *overrides])
    summary = export(run(prepared, verbose=False, trainable=reports_epochs))
    record = budget_record(out_dir)
    assert record["stopped_by"].startswith(reason), record
    assert len(summary.records) <= most_trials
    assert f"stopped by {reason}" in (out_dir / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    ("override", "key"),
    [("sweep.budget.epochs=0", "sweep.budget.epochs"), ("sweep.budget.wall_time_s=-5", "sweep.budget.wall_time_s"),
     ("sweep.budget.plateau_trials=0", "sweep.budget.plateau_trials"), ("sweep.budget.gpu_hours=1", "sweep.budget.gpu_hours")],
)
def test_a_bad_budget_is_named_before_ray_starts(override: str, key: str, out_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        prepare("demo", [*SMALL, override, f"sweep.output_dir={out_dir}"])
    assert caught.value.key == key
    assert not out_dir.exists()
