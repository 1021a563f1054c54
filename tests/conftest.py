"""Shared fixtures: the shared data folder, tiny-model overrides, one Ray session per module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from search.paths import PROJECT_ROOT

SHARED_DATA = (PROJECT_ROOT / ".." / "shared" / "data").resolve()
SST2 = SHARED_DATA / "sst2"
RTE = SHARED_DATA / "rte"

# A small SST-2 slice and a tiny BERT: seconds per trial, still learning above chance.
TINY_SST2 = [
    "model=tiny_bert",
    "data=sst2",
    "data.max_train_samples=480",
    "data.max_eval_samples=160",
    "trainer.max_seq_length=48",
    "trainer.batch_size=16",
    "resources.cpus_per_trial=1",
    "resources.num_cpus=2",
]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance per test module: Ray costs seconds to start."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "sweep"

