"""The end of a sweep (after ``hpo sweep``, ``resume`` and ``extend``) reads the trials once and hands
them to export, the report and the W&B summary, in that order, printing what it printed before."""

from __future__ import annotations

import shutil

import pytest

from hpo.layout import REPORT_DIR, REPORT_HTML, WANDB_DIR, experiment_dirs
from hpo.search.cli import _finish
from hpo.search.results import records, report_data
from hpo.search.results.wandb_summary import JOB_TYPE
from tests.helpers.wandb_offline import read_offline_runs
from tests.small_sweep import small_sweep, wandb_env  # noqa: F401

pytestmark = pytest.mark.slow


def test_the_end_of_a_sweep_reads_the_trials_once_and_loads_the_data_once(
    small_sweep, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(small_sweep.sweep_dir, copy, ignore=shutil.ignore_patterns(REPORT_DIR))
    for key, value in wandb_env(tmp_path / "wandb-home").items():
        if key.startswith("WANDB_"):
            monkeypatch.setenv(key, value)
    reads, loads = [], []
    read, load = records._read_experiment, report_data.load_training_splits
    monkeypatch.setattr(records, "_read_experiment", lambda *args: reads.append(args[0]) or read(*args))
    monkeypatch.setattr(report_data, "load_training_splits", lambda *args: loads.append(args) or load(*args))

    _finish(copy)

    # Ray's reader ran once per experiment folder: export, report and W&B summary shared one read.
    assert reads == experiment_dirs(copy.resolve()) and len(reads) == 1
    assert len(loads) == 1  # the report's data section loaded the dataset once
    printed = capsys.readouterr().out
    # The same leaderboard and best trial as the sweep itself printed, now for the copy.
    before = small_sweep.stdout.split("\nLeaderboard (", 1)[1].split("W&B sweep summary: ", 1)[0]
    assert "\nLeaderboard (" + before.replace(str(small_sweep.sweep_dir), str(copy)) in printed
    # The report was its own step, and the summary run logged the report it built.
    pngs = sorted((copy / REPORT_DIR).glob("*.png"))
    note = f"{len(pngs)} plots logged from {copy / REPORT_DIR / REPORT_HTML}"
    assert pngs and printed.rstrip().endswith(f"({note})")
    runs = read_offline_runs(copy / WANDB_DIR)  # the sweep's own summary run came along with the copy
    summary = next(r for r in runs if r.job_type == JOB_TYPE and r.config["sweep_dir"] == str(copy.resolve()))
    assert summary.summary["report"] == note
    images = {k for k, v in summary.media("report/").items() if v["_type"] == "image-file"}
    assert images == {f"report/{png.stem}" for png in pngs}
