"""Data-parallel trials: a Tune trial trains on 2 Ray Train workers (DDP, gloo on CPUs) with one set of values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from hpo.errors import ConfigError
from hpo.search.results.export import export
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
SMALL = [*TINY_SST2, "data.max_train_samples=96", "data.max_eval_samples=48", "logger=none", "trainer.epochs=1"]


def test_a_trial_trains_on_two_ranks_and_exports_a_plain_checkpoint(ray_session, out_dir: Path) -> None:
    prepared = prepare("demo", [
        *SMALL, "resources.workers_per_trial=2", "resources.cpus_per_trial=1",
        "searcher=random", "sweep.num_trials=1", "search_space.trainer.batch_size.values=[16]", f"sweep.output_dir={out_dir}",
    ])
    summary = export(run(prepared, verbose=False))
    [record] = summary.records
    assert record.status == "finished", record.error
    [result] = [json.loads(line) for line in (record.path / "result.json").read_text().splitlines()]
    assert result["train/world_size"] == 2 and result["train/ranks_reported"] == 2
    # 96 rows in batches of 16 are 6 batches, dealt 3 to each rank: 3 optimizer steps per epoch, not 6
    assert result["step"] == 3 and result["epoch"] == 1.0
    assert result["eval/accuracy"] == summary.best.best["eval/accuracy"]

    checkpoint = out_dir / "best" / "model"
    weights = load_file(checkpoint / "model.safetensors")
    assert weights and not [k for k in weights if k.startswith("module.")]  # saved from the model DDP wraps
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    assert model.num_labels == 2


def test_workers_per_trial_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError, match="resources.workers_per_trial"):
        prepare("demo", [*SMALL, "resources.workers_per_trial=0"])
