"""The study a sweep records as it runs (``optuna.journal``), and ``hpo dashboard`` serving it with optuna-dashboard.

On the session's shared CLI sweep: 6 trials under ASHA, some stopped at its rung. The server is a
real ``hpo dashboard`` process on a free localhost port, asked over HTTP, and drawn by headless
Chromium.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from hpo.search.cli import main
from hpo.search.results.records import read_results
from hpo.search.run.study_journal import RAY_TRIAL_ID, journal_storage
from tests.small_sweep import METRIC, NUM_TRIALS, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow
HPO = str(Path(sys.executable).parent / "hpo")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_report.py"
STATES = {"finished": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED}


def test_the_study_mirrors_every_trial_with_its_evaluations(small_sweep) -> None:  # noqa: F811
    study = optuna.load_study(study_name="demo", storage=journal_storage(small_sweep.sweep_dir))
    assert study.metric_names == [METRIC] and study.direction == optuna.study.StudyDirection.MINIMIZE
    records = {r.trial_id: r for r in read_results(small_sweep.sweep_dir).records}
    trials = {t.user_attrs[RAY_TRIAL_ID]: t for t in study.trials}
    assert set(trials) == set(records) and len(trials) == NUM_TRIALS
    assert {r.status for r in records.values()} == {"finished", "stopped"}  # ASHA stopped some
    for trial_id, record in records.items():
        trial = trials[trial_id]
        assert trial.state == STATES[record.status], trial_id
        assert len(trial.intermediate_values) == record.evaluations  # one per evaluation, at its iteration
        assert min(trial.intermediate_values.values()) == pytest.approx(record.best[METRIC])
        assert trial.params == pytest.approx(record.params)
        if record.status == "finished":  # the value is the trial's best evaluation, as the leaderboard ranks
            assert trial.value == pytest.approx(record.best[METRIC])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def dashboard(small_sweep) -> Iterator[str]:  # noqa: F811
    """``hpo dashboard`` serving the shared sweep on a free port; its base URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen([HPO, "dashboard", str(small_sweep.sweep_dir), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # readiness: the server answers its API (a poll of a real condition, with a deadline)
            try:
                _get(f"{base}/api/studies")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"hpo dashboard did not start: {proc.stdout.read() if proc.stdout else ''}") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and anything it started, by the process id we hold
        proc.wait(timeout=30)


def test_the_dashboards_api_lists_the_trials_with_their_intermediate_values(dashboard: str, small_sweep) -> None:  # noqa: F811
    [summary] = _get(f"{dashboard}/api/studies")["study_summaries"]
    assert summary["study_name"] == "demo"
    study = _get(f"{dashboard}/api/studies/{summary['study_id']}?after=0")
    records = {r.trial_id: r for r in read_results(small_sweep.sweep_dir).records}
    assert len(study["trials"]) == NUM_TRIALS
    for trial in study["trials"]:
        [attr] = [a for a in trial["user_attrs"] if a["key"] == RAY_TRIAL_ID]
        assert len(trial["intermediate_values"]) == records[attr["value"]].evaluations >= 1


def test_the_dashboard_draws_in_headless_chromium(dashboard: str, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if script.find_chromium() is None:
        pytest.skip("no Chromium installed (apt-get install chromium); the screenshot check needs one")
    shot = script.screenshot(f"{dashboard}/dashboard/studies/0", tmp_path / "dashboard.png", height=1200, wait_ms=8000)
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    # the dashboard's blue bar and its drawn plots: an error page is white and grey
    saturated = (image.max(axis=2) - image.min(axis=2)) > 80
    assert saturated.mean() > 0.02


def test_a_folder_without_a_study_is_named(tmp_path: Path, capsys) -> None:
    assert main(["dashboard", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
