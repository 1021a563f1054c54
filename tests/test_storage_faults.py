"""Storage faults: an output folder that cannot be written or is full, a disk that fills mid-sweep, a damaged
checkpoint, a folder that is not a sweep or that another hpo version wrote. Each ends in one message naming the folder or file, before compute
where possible, and leaves what is on disk as it was.

The read-only and full disks are real small file systems (tmpfs) mounted for the test; without the right to
mount (not root) those tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
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
from hpo.search.results.records import collect_trials
from hpo.search.run.disk_guard import MIN_FREE_MB, free_mb
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


@contextlib.contextmanager
def _mounted(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (unmounted after); skips the test without the right to mount."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({done.stderr.strip()}): needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system: too small for any sweep."""
    with _mounted(tmp_path / "disk", "1m") as mount:
        yield mount


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


@pytest.mark.slow
def test_a_disk_that_fills_mid_sweep_stops_it_with_its_results_and_resume_finishes_it(tmp_path: Path) -> None:
    """``hpo sweep`` on a 160 MB file system filled to 32 MB free after the first evaluation: one message, exit 2,
    the evaluation on disk; with the space freed, ``hpo resume`` finishes every trial, each evaluation once."""
    hpo = str(Path(sys.executable).parent / "hpo")
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    with _mounted(tmp_path / "disk", "160m") as disk:  # room for the whole sweep once the ballast is gone
        out = disk / "sweep"
        args = [hpo, "sweep", *[o for o in TINY if not o.startswith("trainer.epochs")], "trainer.epochs=3", "searcher=random", "sweep.num_trials=2", "scheduler=fifo",
                "searcher.max_concurrent=1", "resources.reuse_workers=true", f"sweep.output_dir={out}"]
        sweep = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert sweep.stdout is not None
        lines = []
        for line in sweep.stdout:
            lines.append(line)
            if "eval 1:" in line:  # the first evaluation is on disk: fill the disk to below hpo's floor
                with open(disk / "ballast", "wb") as ballast:
                    os.posix_fallocate(ballast.fileno(), 0, int((free_mb(disk) - MIN_FREE_MB / 2) * 2**20))
                break
        printed = "".join(lines) + sweep.communicate(timeout=300)[0]
        assert sweep.returncode == 2, printed[-3000:]
        assert f"hpo: error: sweep.output_dir: the disk holding {out} has" in printed and f"hpo resume {out}" in printed
        assert "Traceback" not in printed and not re.search(r"\] \w+ failed", printed)  # no trial burnt on the full disk
        stopped = collect_trials(out, "eval/accuracy", "max")
        assert sum(r.evaluations for r in stopped) >= 1 and not (out / "best").exists()  # what was reported is kept
        assert {r.status for r in stopped} <= {"finished", "interrupted"}  # ended or resumable: none failed

        (disk / "ballast").unlink()
        done = subprocess.run([hpo, "resume", str(out)], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        records = collect_trials(out, "eval/accuracy", "max")
        assert len(records) == 2 and all(r.status == "finished" for r in records), [(r.trial_id, r.status) for r in records]
        assert {r.trial_id for r in stopped} <= {r.trial_id for r in records}  # continued, not replaced
        for record in records:
            epochs = [json.loads(line)["epoch"] for line in (record.path / "result.json").read_text().splitlines()]
            assert epochs == [1.0, 2.0, 3.0], (record.trial_id, epochs)
