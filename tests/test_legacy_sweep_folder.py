"""A sweep folder written before hpo's packages moved under the ``hpo`` name still exports, reports
and resumes: Ray's pickled experiment state names the old modules (``search.sweep``,
``trainers.trial``), which :mod:`hpo.legacy_names` resolves to the modules that replaced them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpo.legacy_names import OLD_MODULES, OLD_PACKAGES
from hpo.paths import minilm_path
from hpo.search.results.export import export
from tests.conftest import SHARED_DATA

FIXTURE = Path(__file__).parent / "fixtures" / "sweep_written_before_hpo_package"
HPO = str(Path(sys.executable).parent / "hpo")


@pytest.fixture
def old_sweep(tmp_path: Path) -> Path:
    """The fixture folder copied to tmp, its absolute paths pointed at this machine's copies."""
    sweep = tmp_path / "old-sweep"
    shutil.copytree(FIXTURE, sweep)
    for path in [sweep / "config.yaml", *sweep.glob("trials/*/checkpoint_*/hpo_checkpoint.json")]:
        text = path.read_text().replace("@MINILM@", minilm_path()).replace("@SHARED_DATA@", str(SHARED_DATA))
        path.write_text(text.replace("@SWEEP_DIR@", str(sweep)))
    return sweep


def test_every_old_name_resolves_to_an_importable_module(tmp_path: Path) -> None:
    code = (
        "import importlib.util, pickle\n"
        "from hpo.legacy_names import accept_legacy_names, OLD_MODULES, OLD_PACKAGES\n"
        "accept_legacy_names()\n"
        "for old, new in {**OLD_PACKAGES, **OLD_MODULES}.items():\n"
        "    assert importlib.util.find_spec(new) is not None, new\n"  # found, not run: no torch import
        "    assert importlib.util.find_spec(old).loader is not None, old\n"
        # a protocol-0 GLOBAL opcode: what a pickle that names the old module asks for
        "import hpo.search.run.sweep as sweep\n"
        "assert pickle.loads(b'csearch.sweep\\ntrial_name\\n.') is sweep.trial_name\n"
        "import search.sweep\n"
        "assert search.sweep is sweep\n"  # the same module object, not a second copy
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    assert all(old.split(".")[0] in OLD_PACKAGES for old in OLD_MODULES)


def test_without_the_old_names_the_state_does_not_load(tmp_path: Path) -> None:
    """The guard is needed: a fresh interpreter that never accepted the old names cannot read it."""
    code = "import pickle; pickle.loads(b'csearch.sweep\\ntrial_name\\n.')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "No module named 'search'" in out.stderr


def test_an_old_folder_exports(old_sweep: Path) -> None:
    summary = export(old_sweep)
    assert len(summary.records) == 2 and {r.status for r in summary.records} <= {"finished", "stopped"}
    assert (old_sweep / "best" / "config.yaml").is_file() and (old_sweep / "leaderboard.md").is_file()


@pytest.mark.slow
def test_an_old_folder_resumes_reports_and_summarises(old_sweep: Path) -> None:
    """``hpo resume`` restores Ray's pickled state (nothing left to run), then exports, builds the
    report and logs the W&B summary, as the end of every sweep does."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run([HPO, "resume", str(old_sweep)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Best config:" in proc.stdout and "W&B sweep summary:" in proc.stdout
    assert (old_sweep / "report" / "report.html").is_file()
