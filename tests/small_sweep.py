"""The one CLI sweep of the test session, shared by every test that only needs a finished sweep to read.

``hpo sweep`` runs once per test session in a subprocess (its own Ray instance, so the
``ray_session`` the other test modules share is unaffected), the way a user runs it: the
randomly initialised tiny BERT on an SST-2 slice, Optuna TPE (random until 4 trials ended), ASHA
stopping after 2 epochs the trials not in the top third so far, W&B offline with a fake
``WANDB_API_KEY`` in the environment that must never reach a file, workers reused between trials,
6 trials of up to 3 epochs with learning rates from 1e-4 to 1e-2 so that the trials differ. Each
trial, stopped or finished, keeps the checkpoint of its best evaluation; at its end the sweep wrote
the leaderboard, ``best/``, the report and the W&B summary run.

The sweep ranks by ``eval/loss`` (min): in its first epochs the tiny BERT predicts the majority
class on most trials, so their accuracies tie (0.525), ASHA stops no trial on a tie and the
report's importance has nothing to rank; the loss never ties.

Its readers: tests/test_sweep_cli_e2e.py, test_report.py, test_export_manifest.py,
test_wandb_summary.py, test_ensemble.py and test_sweep_finish.py. Import the fixture into a test
module with ``from tests.small_sweep import small_sweep  # noqa: F401`` (tests/conftest.py keeps the
modules with that line on one pytest-xdist worker; a file lock in the session's folder makes sure the
sweep runs once even if they are not). A test that writes into
a sweep folder (``hpo export``, ``hpo ensemble``, ...) works on ``copy_sweep(...)``, never on
``small_sweep.sweep_dir`` itself, which the other modules read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import TINY_SST2

HPO = str(Path(sys.executable).parent / "hpo")
NUM_TRIALS = 6
EPOCHS = 3
METRIC, MODE = "eval/loss", "min"
EVAL_ROWS = 160  # TINY_SST2's data.max_eval_samples
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


def copy_sweep(sweep: SmallSweep, dest: Path, ignore: tuple[str, ...] = ()) -> Path:
    """A copy of the shared sweep folder at ``dest`` (without the top-level entries named in
    ``ignore``), for a test that rewrites or adds files."""
    top = sweep.sweep_dir

    def skip(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n in ignore] if Path(folder) == top else []

    shutil.copytree(top, dest, ignore=skip)
    return dest


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> SmallSweep:
    global _SWEEP
    if _SWEEP is None:
        # Under pytest-xdist each worker has its own base folder inside the session's: the sweep goes to the
        # session's, behind a file lock, so it runs once per session even if its readers land on both workers.
        base = tmp_path_factory.getbasetemp()
        root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "small-sweep"
        out, home, stdout_file = root / "sweep", root / "wandb-home", root / "stdout.txt"
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / ".lock")):
            if not stdout_file.is_file():
                stdout_file.write_text(_run_sweep(out, home))
        _SWEEP = SmallSweep(out, stdout_file.read_text(), home)
    return _SWEEP


def _run_sweep(out: Path, home: Path) -> str:
    """``hpo sweep`` as the module docstring describes; its stdout."""
    args = [
        HPO, "sweep", *TINY_SST2,
        f"sweep.metric={METRIC}", f"sweep.mode={MODE}",
        # TPE samples at random until 4 trials have ended: with 2 trials at a time, trials 1 to 5. Its random
        # draws are seeded (sweep.seed), so the 5th is the same slow learner each time (lr 1.7e-4, batch 32)
        # and reaches the ASHA rung behind trials that learn, which stops it; trial 6 is TPE's.
        "searcher=optuna", "searcher.n_startup_trials=4", "searcher.max_concurrent=2", "logger=wandb",
        # one ASHA rung, after 2 of the 3 epochs: the tiny BERT starts learning in its second epoch, so a
        # decision after the first would be a coin toss among losses that differ by 1e-4; a trial goes on
        # only in the top third so far (the first to get there always does, so some trial finishes)
        "scheduler=asha", "scheduler.grace_period=2", "scheduler.reduction_factor=3",
        "resources.reuse_workers=true",  # fresh worker processes are covered by test_memory_e2e
        f"sweep.num_trials={NUM_TRIALS}", f"trainer.epochs={EPOCHS}",
        "search_space.trainer.learning_rate.low=1e-4", "search_space.trainer.learning_rate.high=1e-2",
        f"sweep.output_dir={out}",
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env=wandb_env(home))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
