"""The W&B sweep-summary run, read back from the offline files: leaderboard table, artifacts, links, no API key."""

from __future__ import annotations

import csv

import pytest
import yaml

from hpo.search.results.report import try_build_report
from hpo.search.results.wandb_summary import JOB_TYPE, report_note
from tests.helpers.wandb_offline import read_offline_runs
from tests.small_sweep import FAKE_API_KEY, METRIC, NUM_TRIALS, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow


def summary_and_trials(sweep_dir):
    runs = read_offline_runs(sweep_dir / "wandb")
    summaries = [r for r in runs if r.job_type == JOB_TYPE]
    assert len(summaries) == 1, [r.job_type for r in runs]
    return summaries[0], [r for r in runs if r.job_type == "trial"]


def test_one_summary_run_in_the_trials_group(small_sweep) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    summary, trials = summary_and_trials(out)
    group = yaml.safe_load((out / "config.yaml").read_text())["logger"]["group"]
    assert summary.group == group and {t.group for t in trials} == {group}
    assert len(trials) == NUM_TRIALS
    assert "W&B sweep summary: " in small_sweep.stdout
    # the winner's figure on the test split (data=sst2 has one) beside its validation figure
    exported = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert summary.summary["best/test/loss"] == pytest.approx(exported["test_metrics"]["test/loss"])
    assert summary.summary["best/validation_test_gap_large"] == exported["validation_test_gap"]["large"]


def test_leaderboard_table_has_one_row_per_trial_in_rank_order(small_sweep) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    summary, _ = summary_and_trials(out)
    table = summary.table("leaderboard")
    with (out / "leaderboard.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(table["data"]) == NUM_TRIALS
    columns = table["columns"]
    assert [dict(zip(columns, row, strict=True))["trial"] for row in table["data"]] == [r["trial"] for r in rows]
    values = [row[columns.index(f"best {METRIC}")] for row in table["data"]]
    assert values == pytest.approx([float(r[f"best {METRIC}"]) for r in rows])
    statuses = [row[columns.index("status")] for row in table["data"]]
    assert statuses == [r["status"] for r in rows] and "stopped" in statuses  # ASHA's stopped trials are listed too
    assert [row[columns.index("wandb run")] for row in table["data"]] == [r["trial"] for r in rows]  # offline: the run id


def test_best_config_and_model_are_artifacts(small_sweep) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    summary, _ = summary_and_trials(out)
    artifacts = {a.type: a for a in summary.artifacts}
    best = yaml.safe_load((out / "best" / "metrics.yaml").read_text())["trial_id"]
    assert {"config", "model"} <= set(artifacts)
    assert artifacts["config"].name.endswith("-best-config") and artifacts["model"].name.endswith("-best-model")
    assert set(artifacts["config"].files) == {"config.yaml", "metrics.yaml", "manifest.json"}
    assert {"config.json", "model.safetensors", "eval_predictions.json"} <= set(artifacts["model"].files)
    assert "training_state.pt" not in artifacts["model"].files
    assert artifacts["model"].metadata["trial_id"] == best and artifacts["model"].metadata["metric"] == METRIC


def test_summary_links_the_trial_runs_and_each_trial_run_names_its_trial(small_sweep) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    summary, trials = summary_and_trials(out)
    links = summary.config["trial_runs"]
    assert sorted(link["run_id"] for link in links) == sorted(t.run_id for t in trials)
    for trial in trials:
        assert trial.config["trial_id"] == trial.run_id
        link = next(link for link in links if link["run_id"] == trial.run_id)
        assert link["local_dir"] == str(trial.run_dir)
    best = yaml.safe_load((out / "best" / "metrics.yaml").read_text())["trial_id"]
    assert summary.summary["best/trial_id"] == best == summary.config["best_trial_id"]
    assert summary.summary["best/run"]["run_id"] == best


def test_report_plots_are_images_or_the_summary_says_why_not(small_sweep) -> None:  # noqa: F811
    summary, _ = summary_and_trials(small_sweep.sweep_dir)
    note = summary.summary["report"]
    images = {k: v for k, v in summary.media("report/").items() if v["_type"] == "image-file"}
    if note.startswith("plots not logged"):
        assert not images
    else:
        assert images and note.startswith(f"{len(images)} plots logged")
        assert all((summary.run_dir / "files" / v["path"]).is_file() for v in images.values())


def test_a_failing_report_is_reported_not_raised(tmp_path) -> None:
    report = try_build_report(tmp_path)  # not a sweep folder: the report cannot be built
    assert report.paths == {} and report.failure.startswith("ConfigError: ")
    assert report_note(report) == f"plots not logged: the report failed ({report.failure})"
    assert report_note(None) == "plots not logged: no report was built"


def test_the_api_key_is_in_no_written_file(small_sweep) -> None:  # noqa: F811
    key = FAKE_API_KEY.encode()
    checked = 0
    for root in (small_sweep.sweep_dir, small_sweep.wandb_home):
        for path in root.rglob("*"):
            if path.is_file():
                checked += 1
                assert key not in path.read_bytes(), path
    assert checked > 50
