"""One small finished sweep, shared by the export, ensemble, W&B-summary and end-of-sweep (``_finish``) tests.

``hpo sweep`` runs once per test session in a subprocess (its own Ray instance, so the
module-scoped ``ray_session`` of other test modules is unaffected): tiny BERT on an SST-2 slice,
random search, every trial run to the end with a checkpoint, W&B offline, and a fake
``WANDB_API_KEY`` in the environment that must never reach a file. Import the fixture into a
test module with ``from tests.small_sweep import small_sweep  # noqa: F401``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TINY_SST2

HPO = str(Path(sys.executable).parent / "hpo")
NUM_TRIALS = 3
EPOCHS = 2
FAKE_API_KEY = "hpo-test-fake-wandb-key-0123456789abcdef0123"


@dataclass
class SmallSweep:
    """The finished sweep folder, the sweep's stdout, and W&B's own folders (cache, staging)."""

    sweep_dir: Path
    stdout: str
    wandb_home: Path


_SWEEP: SmallSweep | None = None  # pytest makes one fixture per importing module: share the sweep here


def wandb_env(wandb_home: Path) -> dict[str, str]:
    """Offline W&B with the fake key set, its cache/staging/config folders kept inside the test's
    folder (so the key check covers them too and nothing lands in the home folder)."""
    env = dict(os.environ)
    env.update(
        WANDB_MODE="offline", WANDB_SILENT="true", WANDB_API_KEY=FAKE_API_KEY,
        WANDB_DATA_DIR=str(wandb_home / "data"), WANDB_CACHE_DIR=str(wandb_home / "cache"),
        WANDB_CONFIG_DIR=str(wandb_home / "config"), WANDB_ARTIFACT_DIR=str(wandb_home / "artifacts"),
    )
    return env


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> SmallSweep:
    global _SWEEP
    if _SWEEP is None:
        root = tmp_path_factory.mktemp("small-sweep")
        out, home = root / "sweep", root / "wandb-home"
        args = [
            HPO, "sweep", *TINY_SST2,
            "data.max_train_samples=320", "data.max_eval_samples=96",
            "searcher=random", "scheduler=fifo", "logger=wandb", "resources.reuse_workers=true",
            f"sweep.num_trials={NUM_TRIALS}", f"trainer.epochs={EPOCHS}",
            "search_space.trainer.learning_rate.low=1e-4", "search_space.trainer.learning_rate.high=1e-2",
            f"sweep.output_dir={out}",
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env=wandb_env(home))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        _SWEEP = SmallSweep(out, proc.stdout, home)
    return _SWEEP
