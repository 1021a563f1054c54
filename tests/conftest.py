"""Shared fixtures: the shared data folder, tiny-model overrides, one Ray session per module."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hpo.paths import PROJECT_ROOT

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


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under pytest-xdist (``make test`` runs two workers), send each test module to one worker, and
    the modules that share the session-scoped CLI sweep (tests/small_sweep.py) to the same one.

    A module's Ray session and sweep fixtures are module-scoped and the shared sweep is built once per
    process, so splitting them would run them again (the shared sweep takes about 3 minutes on 2 cores).
    A module shares it when it imports the fixture: ``from tests.small_sweep import ... small_sweep ...``,
    on one line or in parentheses over several.
    """
    from xdist.scheduler import LoadScopeScheduling

    tests_dir = Path(__file__).parent
    sharing = {p.name for p in tests_dir.glob("test_*.py") if _imports_small_sweep(p.read_text())}

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "small_sweep" if Path(module).name in sharing else module

    return ModuleScheduling(config, log)


_IMPORT_FROM_SMALL_SWEEP = re.compile(r"^from tests\.small_sweep import (\([^)]*\)|.*)", re.MULTILINE)


def _imports_small_sweep(source: str) -> bool:
    """Whether a test module's source imports the ``small_sweep`` fixture from tests/small_sweep.py."""
    return any(re.search(r"\bsmall_sweep\b", m.group(1)) for m in _IMPORT_FROM_SMALL_SWEEP.finditer(source))
