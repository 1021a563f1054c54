"""Resident memory of the driver and of the trial workers stays flat over a sweep of many short trials."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from hpo.search.results.export import export
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
TRIALS = 2  # fresh worker processes, each paying its own imports (the warm-up is a third)
SHORT = [*TINY_SST2, "logger=none", "scheduler=fifo", "searcher=random", "trainer.epochs=1", "resources.reuse_workers=false",
         "data.max_train_samples=32", "data.max_eval_samples=16"]


def sweep(out: Path, trials: int):
    return export(run(prepare("demo", [*SHORT, f"sweep.num_trials={trials}", f"sweep.output_dir={out}"]), verbose=False))


def test_memory_stays_flat_over_many_trials(ray_session, tmp_path: Path) -> None:
    driver = psutil.Process()
    sweep(tmp_path / "warmup", 1)  # imports and Ray's first-use allocations
    before = driver.memory_info().rss
    summary = sweep(tmp_path / "many", TRIALS)
    growth_mb = (driver.memory_info().rss - before) / 2**20
    assert growth_mb < 64, f"driver grew {growth_mb:.0f} MB over {TRIALS} trials"
    workers = [r.best["sys/rss_mb"] for r in summary.records]
    assert len(workers) == TRIALS
    assert max(workers) - min(workers) < 64, workers  # every trial starts from a fresh process
