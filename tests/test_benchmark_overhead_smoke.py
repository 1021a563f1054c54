"""The overhead benchmark's smoke mode: hpo and plain Ray Tune both run end to end, and the report is whole.

The benchmark itself is not part of the suite (tens of minutes); its smoke mode runs 3
trials with reused workers and 2 with fresh ones, each run a real ``hpo``-style sweep or plain
Ray Tune script in its own process, through the same code path as the full benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import overhead

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, Path]]:
    paths = overhead.main(["--smoke", "--out", str(tmp_path_factory.mktemp("overhead"))])
    assert paths is not None
    return json.loads(paths["json"].read_text()), paths


def test_every_method_and_count_ran_every_trial(smoke: tuple[dict, dict[str, Path]]) -> None:
    result, _ = smoke
    expected = {("reused", n) for n in overhead.SMOKE_COUNTS} | {("fresh", n) for n in overhead.SMOKE_FRESH_COUNTS}
    for method in overhead.METHODS:
        ran = {(r["workers"], r["trials"]) for r in result["runs"] if r["method"] == method}
        assert ran == expected, method
    for run in result["runs"]:
        # Every trial reported: its result.json was read back with the trainable's own timestamps.
        assert run["trials_run"] == run["trials"], run
        assert run["wall_s"] > run["phases"]["sweep"] > 0
        assert run["driver_peak_mb"] > 50  # the driver process's peak resident memory, torch and Ray imported
    fresh = [r for r in result["runs"] if r["workers"] == "fresh"]
    reused = [r for r in result["runs"] if r["workers"] == "reused"]
    assert all(r["gaps"]["worker_processes"] == r["trials"] for r in fresh)  # one new worker per trial
    assert all(r["gaps"]["worker_processes"] < r["trials"] for r in reused)


def test_ratios_and_per_trial_figures(smoke: tuple[dict, dict[str, Path]]) -> None:
    result, _ = smoke
    for setting, counts in (("reused", overhead.SMOKE_COUNTS), ("fresh", overhead.SMOKE_FRESH_COUNTS)):
        summary = result["settings"][setting]["summary"]
        assert set(summary["ratio_hpo_over_plain"]) == {str(n) for n in counts}
        assert all(ratio > 0 for ratio in summary["ratio_hpo_over_plain"].values())
        for method in overhead.METHODS:
            rows = summary["by_method"][method]
            assert all(rows[str(n)]["per_trial_s"] > 0 for n in counts)
        # Ray's timeline shows each fresh worker's actor being created
        actors = result["settings"][setting]["breakdown"]["plain"][str(counts[0])]["actors_s"]
        assert actors["init"] is not None


def test_reports_written(smoke: tuple[dict, dict[str, Path]]) -> None:
    result, paths = smoke
    table = paths["md"].read_text()
    assert "## Workers reused" in table and "## Workers fresh" in table
    for n in overhead.SMOKE_COUNTS:
        assert f"\n| {n} | " in table
    for label in overhead.LABELS.values():
        assert f"| {label} |" in table
    env = result["environment"]
    assert env["versions"]["ray"] and env["machine"]["cpu_count"] and env["seed"] == 0


def test_summary_ratios_and_marginal_cost_per_trial() -> None:
    """Walls of 2 repeats at 10 and 30 trials: medians, hpo/plain ratios, pairs, cost of one more trial."""
    walls = {("plain", 10): (10.0, 12.0), ("hpo", 10): (11.0, 12.0), ("plain", 30): (20.0, 22.0), ("hpo", 30): (24.0, 24.0)}
    runs = [
        {"method": m, "trials": n, "repeat": r, "wall_s": w, "phases": {"sweep": w / 2}}
        for (m, n), pair in walls.items() for r, w in enumerate(pair)
    ]
    summary = overhead.summarise(runs, [10, 30])
    plain, hpo = summary["by_method"]["plain"], summary["by_method"]["hpo"]
    assert (plain["10"]["wall_s"], hpo["10"]["wall_s"], plain["30"]["wall_s"], hpo["30"]["wall_s"]) == (11.0, 11.5, 21.0, 24.0)
    assert summary["ratio_hpo_over_plain"] == {"10": round(11.5 / 11.0, 4), "30": round(24.0 / 21.0, 4)}
    assert summary["paired_ratios"]["10"] == [1.1, 1.0]
    assert plain["30"]["marginal_s"] == 0.5 and hpo["30"]["marginal_s"] == 0.625  # (21-11)/20, (24-11.5)/20
    assert "marginal_s" not in plain["10"]
