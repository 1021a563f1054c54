"""Trade-offs: a two-objective sweep (accuracy against inference latency) with a constraint, through Optuna's
NSGA-II in Ray Tune; its Pareto front in the leaderboard, ``hpo export --pareto`` and the report."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from ray.tune.search import ConcurrencyLimiter

from hpo.objectives import Constraint, constraints, dominates, objectives, pareto_front
from hpo.search.algorithms.searchers import CONSTRAINTS
from hpo.search.cli import main
from tests.conftest import TINY_SST2

SMALL = [*TINY_SST2, "data.max_train_samples=64", "data.max_eval_samples=48", "logger=none", "trainer.epochs=1", "scheduler=fifo",
         "resources.reuse_workers=true", "sweep.num_trials=4", "searcher.sampler=nsga2", "searcher.n_startup_trials=2",
         # eval batches of 1 or 48 rows: the latency per row differs several-fold, a real trade-off to search
         "+search_space.trainer.eval_batch_size={type: choice, values: [1, 48]}",
         "sweep.objectives=[eval/latency_ms:min]", 'sweep.constraints=["eval/params_m<=100"]']


def test_pareto_front_and_constraints_by_hand() -> None:
    modes = ["max", "min"]
    points = {"a": [0.9, 5.0], "b": [0.8, 2.0], "c": [0.7, 3.0], "d": [0.9, 5.0], "e": [0.6, 1.0]}
    assert dominates([0.9, 2.0], [0.8, 2.0], modes) and not dominates([0.9, 5.0], [0.9, 5.0], modes)
    assert pareto_front(points, modes) == ["a", "b", "d", "e"]  # c is beaten by b in both; ties stay on the front
    sweep = {"metric": "eval/accuracy", "mode": "max", "objectives": ["eval/latency_ms:min"],
             "constraints": ["eval/latency_ms<=20", "eval/accuracy >= 0.5"]}
    assert [(o.metric, o.mode) for o in objectives(sweep)] == [("eval/accuracy", "max"), ("eval/latency_ms", "min")]
    limit, floor = constraints(sweep)
    assert limit == Constraint("eval/latency_ms", "<=", 20.0) and floor.bound == 0.5
    assert limit.violation({"eval/latency_ms": 25}) == 5 and limit.violation({"eval/latency_ms": 12}) == -8
    assert floor.violation({"eval/accuracy": 0.4}) == pytest.approx(0.1) and limit.violation({}) == 1.0


@pytest.mark.slow
def test_a_two_objective_sweep_writes_a_pareto_front_and_a_constraint_excludes_the_trials_that_break_it(
    ray_session, tmp_path: Path, capsys,
) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", *SMALL, f"sweep.output_dir={out}"]) == 0
    rows = _leaderboard(out)
    assert len(rows) == 4 and all(float(r["eval/latency_ms"]) > 0 and float(r["eval/params_m"]) > 0 for r in rows)
    _assert_front(rows)
    assert all(r["trade-off"] in ("Pareto front", "dominated") for r in rows)  # 100 M parameters: every trial meets it
    # NSGA-II was told each completed trial's violation of the constraint (its constraints_func reads it)
    searcher = ConcurrencyLimiter(_optuna_searcher(), max_concurrent=1)
    searcher.restore(str(next((out / "trials").glob("searcher-state-*.pkl"))))
    told = [t for t in searcher.searcher._ot_study.trials if t.state.is_finished()]
    assert len(told) == 4 and all(len(t.values) == 2 and len(t.user_attrs[CONSTRAINTS]) == 1 for t in told)

    # a bound between the trials' latencies, the way a user tightens it after looking: the slower trials break it
    latencies = sorted(float(r["eval/latency_ms"]) for r in rows)
    bound = (latencies[1] + latencies[2]) / 2
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    cfg["sweep"]["constraints"] = [f"eval/latency_ms<={bound}"]
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["export", str(out), "--pareto"]) == 0
    rows = _leaderboard(out)
    for row in rows:
        assert row["trade-off"].startswith("breaks") == (float(row["eval/latency_ms"]) > bound), row
    _assert_front([r for r in rows if not r["trade-off"].startswith("breaks")])
    front = [r["trial"] for r in rows if r["trade-off"] == "Pareto front"]
    assert sorted(p.name.split("-", 2)[2] for p in (out / "pareto").iterdir()) == sorted(front)
    best = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert float(best["metrics"]["eval/latency_ms"]) <= bound  # best/ is the best trial that meets the constraint
    assert "Pareto front: " in capsys.readouterr().out
    shutil.rmtree(out / "report", ignore_errors=True)
    assert main(["report", str(out)]) == 0
    assert 'id="figure-pareto_front"' in (out / "report" / "report.html").read_text()


def _leaderboard(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "leaderboard.csv").open() as f:
        return list(csv.DictReader(f))


def _assert_front(rows: list[dict[str, str]]) -> None:
    """No trial on the front is dominated by another, and every other trial is dominated by one on it."""
    modes = ["max", "min"]
    values = {r["trial"]: [float(r["best eval/accuracy"]), float(r["eval/latency_ms"])] for r in rows}
    front = [r["trial"] for r in rows if r["trade-off"] == "Pareto front"]
    assert front
    for trial in front:
        assert not any(dominates(values[o], values[trial], modes) for o in values if o != trial)
    for trial in set(values) - set(front):
        assert any(dominates(values[f], values[trial], modes) for f in front)


def _optuna_searcher():
    from hpo.objectives import Objective
    from hpo.search.algorithms.searchers import SweepOptunaSearch

    return SweepOptunaSearch(metric=["eval/accuracy", "eval/latency_ms"], mode=["max", "min"],
                             goals=[Objective("eval/accuracy", "max"), Objective("eval/latency_ms", "min")], limits=[])
