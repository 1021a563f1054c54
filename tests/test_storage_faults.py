"""Storage faults: an output folder that cannot be written or is full, a damaged checkpoint, a folder that is not
a sweep or that another hpo version wrote. Each ends in one message naming the folder or file, before compute
where possible, and leaves what is on disk as it was.

The read-only and full disks are real small file systems (tmpfs) mounted for the test; without the right to
mount (not root) those tests skip with the reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import yaml

from hpo import __version__
from hpo.layout import TRAINING_STATE_FILE, VERSION_FILE
from hpo.search.cli import main
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.engine.checkpoint import ResumeState
from hpo.trainers.engine.faults import CorruptCheckpointError
from hpo.trainers.runs.fine_tune import fine_tune

TINY = ["model=tiny_bert", "data.num_train=32", "data.num_eval=16", "trainer.max_seq_length=32", "trainer.epochs=1", "logger=none"]


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hpo: error: ") and "Traceback" not in err
    assert not ray.is_initialized(), "Ray must not start"
    return err


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (unmounted after)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_output_folder_is_named_before_ray_starts(small_disk: Path, capsys) -> None:
    (small_disk / "earlier.txt").write_text("results of an earlier sweep")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    err = _error(["sweep", *TINY, f"sweep.output_dir={small_disk / 'sweep'}"], capsys)
    assert "sweep.output_dir: cannot write in" in err and "read-only" in err
    assert (small_disk / "earlier.txt").read_text() == "results of an earlier sweep"  # untouched


def test_a_full_disk_is_named_before_ray_starts(small_disk: Path, capsys) -> None:
    err = _error(["sweep", *TINY, f"sweep.output_dir={small_disk / 'sweep'}"], capsys)
    assert "sweep.output_dir: only 1.0 MB free" in err and str(small_disk) in err


def test_resume_refuses_a_folder_that_is_not_a_sweep_or_another_versions(tmp_path: Path, capsys) -> None:
    assert "not a sweep folder" in _error(["resume", str(tmp_path)], capsys)
    cfg = resolve(compose_config("demo", TINY))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / VERSION_FILE).write_text("9.3.1\n")
    err = _error(["resume", str(tmp_path)], capsys)
    assert "written by hpo 9.3.1" in err and f"this is hpo {__version__}" in err and "hpo export" in err
    assert "written by hpo 9.3.1" in _error(["extend", str(tmp_path), "--trials", "1"], capsys)


@pytest.mark.parametrize("damaged", ["model.safetensors", TRAINING_STATE_FILE])
def test_a_damaged_checkpoint_is_named_with_its_reason(tmp_path: Path, damaged: str) -> None:
    cfg = resolve(compose_config("demo", TINY))
    fine_tune(cfg, lambda metrics, snapshot: snapshot.save(tmp_path), num_threads=1)
    assert ResumeState.load(tmp_path) is not None  # whole, it loads
    file = tmp_path / damaged
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 3])  # truncated, as a disk that filled up leaves it
    with pytest.raises(CorruptCheckpointError, match=rf"the checkpoint {tmp_path} cannot be read .*truncated or damaged"):
        ResumeState.load(tmp_path)
