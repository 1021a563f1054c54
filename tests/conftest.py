"""Shared fixtures: the shared data folder, tiny-model overrides, one Ray session per module."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from hpo.paths import PROJECT_ROOT

SHARED_DATA = (PROJECT_ROOT / ".." / "shared" / "data").resolve()
SST2 = SHARED_DATA / "sst2"
RTE = SHARED_DATA / "rte"

# A small SST-2 slice and a tiny BERT: seconds per trial, still learning above chance. One trial at a
# time: the suite's two pytest-xdist workers already keep both cores busy, so a second trial would only
# start a second worker process (~12 s of imports on 2 cores); a test about concurrency sets its own.
TINY_SST2 = [
    "model=tiny_bert",
    "data=sst2",
    "data.max_train_samples=480",
    "data.max_eval_samples=160",
    "trainer.max_seq_length=48",
    "trainer.batch_size=16",
    "resources.cpus_per_trial=1",
    "resources.num_cpus=2",
    "searcher.max_concurrent=1",
]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def _ray_for_the_process():
    """Shuts down, at the end of the test process, the Ray instance the modules shared."""
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="module")
def ray_session(_ray_for_the_process):
    """One local Ray instance per test process, shared by the modules that ask for it: Ray costs ~5 s to
    start and stop, and each pytest-xdist worker runs about twenty modules. Started by the first module
    that needs it, and again after a module that ran Ray its own way (see :func:`_own_ray_per_module`)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield


@pytest.fixture(scope="module", autouse=True)
def _own_ray_per_module(request: pytest.FixtureRequest):
    """A module that does not use ``ray_session`` (a cluster test, a benchmark) starts Ray its own way:
    it finds none running in this process, and leaves none behind for the next module."""
    module = request.module
    shares = any("ray_session" in item.fixturenames for item in request.session.items if item.module is module)
    if not shares:
        _stop_ray_in_this_process()
    yield
    if not shares:
        _stop_ray_in_this_process()


def _stop_ray_in_this_process() -> None:
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()


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

    seconds = json.loads(DURATIONS_FILE.read_text()) if DURATIONS_FILE.is_file() else {}

    class ModuleScheduling(LoadScopeScheduling):
        """Scopes go out longest first (as last measured), so no long module starts last and runs alone."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "small_sweep" if Path(module).name in sharing else Path(module).name

        def schedule(self) -> None:
            if self.collection is None:  # the first call: order every worker's (identical) collection
                def cost(nodeid: str) -> float:
                    return -seconds.get(self._split_scope(nodeid), UNMEASURED_SECONDS)

                for node, collection in self.registered_collections.items():
                    self.registered_collections[node] = sorted(collection, key=cost)
            super().schedule()

    config.option.loadscopereorder = False  # keep the order above, not xdist's order by test count
    return ModuleScheduling(config, log)


# Seconds each scheduling scope took in the last measured `make test` (tests/module_durations.json,
# written by `python -m tests.module_durations <pytest --durations=0 log>`); a module not in it yet
# counts as long, so a new end-to-end module is not the one left for last.
DURATIONS_FILE = Path(__file__).with_name("module_durations.json")
UNMEASURED_SECONDS = 120.0

_IMPORT_FROM_SMALL_SWEEP = re.compile(r"^from tests\.small_sweep import (\([^)]*\)|.*)", re.MULTILINE)


def _imports_small_sweep(source: str) -> bool:
    """Whether a test module's source imports the ``small_sweep`` fixture from tests/small_sweep.py."""
    return any(re.search(r"\bsmall_sweep\b", m.group(1)) for m in _IMPORT_FROM_SMALL_SWEEP.finditer(source))
