"""The search-efficiency benchmark's smoke mode: every method runs end to end and the report is sane.

The benchmark itself is not part of the suite (minutes of compute); this runs its smoke mode
(1 LCBench task, 1 seed, a budget of 1 full training) through the same code path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import search_efficiency

# `make install` installs yahpo-gym and CI has ../shared/bench: a missing surrogate fails here, not skips.
pytestmark = pytest.mark.slow

# A trial's first epoch is always granted (Ray Tune needs one report per trial), so a run may
# overshoot its budget by the trials started just before it ran out: at most max_concurrent (2).
MAX_OVERSHOOT = 2
# Smoke mode runs every method of the issue; extras (variants added after a finding) are left out.
ISSUE_METHODS = {name for name, m in search_efficiency.METHODS.items() if not m.extra}


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, dict[str, Path]]]:
    import ray

    paths = search_efficiency.main(["--smoke", "--out", str(tmp_path_factory.mktemp("bench"))])
    yield json.loads(paths["json"].read_text()), paths
    ray.shutdown()  # other test modules start their own Ray


@pytest.mark.slow
def test_every_method_ran_with_monotone_curves(smoke_result: tuple[dict, dict[str, Path]]) -> None:
    result, _ = smoke_result
    assert set(result["methods"]) == ISSUE_METHODS
    assert {r["method"] for r in result["runs"]} == ISSUE_METHODS
    for run in result["runs"]:
        curve = run["curve"]
        assert len(curve) == search_efficiency.POINTS and None not in curve, run["method"]
        assert all(b >= a for a, b in zip(curve, curve[1:], strict=False)), f"{run['method']}: best-so-far went down"
        assert 0 < curve[-1] <= 100


@pytest.mark.slow
def test_budget_is_respected(smoke_result: tuple[dict, dict[str, Path]]) -> None:
    result, _ = smoke_result
    budget = result["environment"]["budget_epochs"]
    assert result["checkpoints"][-1] == budget
    for run in result["runs"]:
        assert budget <= run["epochs_spent"] <= budget + MAX_OVERSHOOT, run


@pytest.mark.slow
def test_reports_written(smoke_result: tuple[dict, dict[str, Path]]) -> None:
    result, paths = smoke_result
    table = paths["md"].read_text()
    for method in (search_efficiency.METHODS[m] for m in ISSUE_METHODS):
        assert f"| {method.label} |" in table
    assert "Targets:" in table and paths["png"].stat().st_size > 0
    env = result["environment"]
    assert env["seeds"] == [0] and len(env["tasks"]) == 1 and env["versions"]["ray"]
    targets = result["summary"]["targets"]
    assert {"default_reaches_random_final_within_third", "default_at_least_every_peer_at_fractions"} <= set(targets)
    peers = {name for name in ISSUE_METHODS if search_efficiency.METHODS[name].peer}
    assert set(targets["default_at_least_every_peer_at_fractions"]["gaps"]) == peers == {"optuna_hyperband", "smac_mf", "synetune_bohb"}
