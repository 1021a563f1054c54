"""Population Based Training and PB2 on real Ray Tune with the tiny BERT, and the replay of a PBT schedule.

A population of 2 trials trains side by side (a CPU each on 2 cores, one worker process each); every
evaluation, the one behind copies the checkpoint and values of the one ahead and perturbs them. The exported config of a
trial that copied holds its lineage's schedule of values, and ``hpo train`` replays it: its
learning rate at every evaluation is the one the lineage trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.search.cli import main
from hpo.search.results.export import export
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
POPULATION = 2
EVALUATIONS = 6
# 256 rows x 6 evaluations: long enough that both trials report before either ends, even on loaded cores (with
# 96, CI once saw one trial finish before the other's first report, and asynchronous PBT then never copies)
SMALL = [*TINY_SST2, "data.max_train_samples=256", "data.max_eval_samples=48", "logger=none", "resources.reuse_workers=true",
         "searcher=random", "searcher.max_concurrent=null", f"sweep.num_trials={POPULATION}",
         f"trainer.epochs={EVALUATIONS}", "sweep.metric=eval/loss", "sweep.mode=min"]


def reports(trial_dir: Path) -> dict[int, list[dict[str, Any]]]:
    """A trial's reports by training iteration, in order (a trial that copied another re-reports
    the iterations after the copied checkpoint's: Ray restores the iteration with the checkpoint)."""
    by_iteration: dict[int, list[dict[str, Any]]] = {}
    for line in (trial_dir / "result.json").read_text().splitlines():
        row = json.loads(line)
        by_iteration.setdefault(row["training_iteration"], []).append(row)
    return by_iteration


def report_trace(trials_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """(training_iteration, epoch) of every report of every trial: what a failure message needs (CI
    once found no candidate: Ray's writer had emptied a restarted trial's result.json, see
    hpo.search.run.result_files)."""
    return {
        d.name: [(row["training_iteration"], row["epoch"]) for rows in reports(d).values() for row in rows]
        for d in sorted(trials_dir.glob("trial_*"))
    }


def lineage_learning_rates(trials_dir: Path, trial_id: str) -> dict[int, float]:
    """The learning rate a PBT trial's lineage trained with at each evaluation, from Ray's policy file
    (the trial's lineage: who it copied, at which evaluation) and the trials' reports.

    After its last copy the trial reports its own lineage (its last report of each iteration). A
    donor's earlier iterations are taken only where the donor reported them once: a donor that later
    copied a trial behind it re-reported them, and which report the copy saw is then ambiguous.
    """
    rows = [json.loads(line) for line in (trials_dir / f"pbt_policy_{trial_id}.txt").read_text().splitlines()]
    owners = [(row[3], row[1]) for row in rows]  # (copied after evaluation, donor tag), oldest first
    rates: dict[int, float] = {}
    current, own = trial_id, True
    for iteration in range(EVALUATIONS, 0, -1):
        while owners and iteration <= owners[-1][0]:
            current, own = _tag_trial(trials_dir, owners.pop()[1]), False
        seen = reports(trials_dir / f"trial_{current}").get(iteration, [])
        if seen and (own or len(seen) == 1):
            rates[iteration] = seen[-1]["train/learning_rate"]
    return rates


def _tag_trial(trials_dir: Path, tag: str) -> str:
    """The trial id of an experiment tag (``<index>_<values>``): the index is the trial's number."""
    index = int(tag.split("_", 1)[0])
    (folder,) = [p for p in trials_dir.glob("trial_*") if p.name.endswith(f"_{index:05d}")]
    return folder.name.removeprefix("trial_")


def test_pbt_copies_trials_and_hpo_train_replays_the_schedule(ray_session, out_dir: Path, tmp_path: Path) -> None:
    prepared = prepare("demo", [*SMALL, "scheduler=pbt", f"sweep.output_dir={out_dir}"])
    summary = export(run(prepared, verbose=False), top_k=POPULATION)
    assert len(summary.records) == POPULATION and all(r.status == "finished" for r in summary.records)
    policy = out_dir / "trials" / "pbt_global.txt"  # Ray writes it at the first copy
    copies = policy.read_text().splitlines() if policy.is_file() else []
    assert copies, f"PBT never copied a trial: {report_trace(out_dir / 'trials')}"
    # every trial's result.json keeps its reports (a restarted trial's were once lost to Ray's restore; a
    # trial that copied a donor's final checkpoint ends without another report, so not all reach the end)
    trace = report_trace(out_dir / "trials")
    assert all(trace.values()), trace
    bundles = [(d, yaml.safe_load((d / "config.yaml").read_text())) for d in summary.top_dirs]
    # a trial that copied before its last evaluation, whose lineage's rates after that copy are known
    candidates = []
    for bundle, config in bundles:
        schedule = config["trainer"]["pbt_schedule"]
        if schedule and schedule[0]["evaluation"] < EVALUATIONS:
            expected = lineage_learning_rates(out_dir / "trials", bundle.name.split("-", 2)[2])
            if any(i > schedule[0]["evaluation"] for i in expected):
                candidates.append((bundle, schedule, expected))
    if not candidates:
        # The population decides the lineages: when the laggard's last copy came at the donor's final
        # evaluation (its earlier copies overwritten), no exported lineage changes before the end and
        # there is nothing to replay against (seen in 1 of 8 runs). That is the only way to get
        # here: every exported schedule starts at the end. tests/test_pbt_schedule.py checks reading
        # and replaying a schedule deterministically.
        first_changes = [config["trainer"]["pbt_schedule"][0]["evaluation"] for _, config in bundles if config["trainer"]["pbt_schedule"]]
        assert first_changes and all(e == EVALUATIONS for e in first_changes), f"{first_changes} {copies} {trace}"
        return
    bundle, schedule, expected = candidates[0]

    assert main(["train", "--config", str(bundle / "config.yaml"), "--output-dir", str(tmp_path / "replay")]) == 0
    history = [json.loads(line) for line in (tmp_path / "replay" / "metrics.jsonl").read_text().splitlines()]
    replayed = {i + 1: h["train/learning_rate"] for i, h in enumerate(history)}
    # After the schedule's first change the lineage is the exported trial's own chain of copies.
    # Before it, the replay starts from the first donor's values as Ray's policy file records them;
    # in about one run in three those differ from what that donor reported at evaluation 1 (open
    # question, see the closing note of 2026-12-02), so only the changed part is compared here.
    after = {i: rate for i, rate in expected.items() if i > schedule[0]["evaluation"]}
    assert {i: replayed[i] for i in after} == pytest.approx(after, rel=1e-6), (schedule, copies)


def test_pb2_runs_its_population_to_the_end(ray_session, out_dir: Path) -> None:
    # a population of 2 over 2 evaluations: one decision point, the plumbing of Ray's PB2 and GPy
    prepared = prepare("demo", [*SMALL, "scheduler=pb2", "sweep.num_trials=2", "trainer.epochs=2", f"sweep.output_dir={out_dir}"])
    summary = export(run(prepared, verbose=False))
    assert len(summary.records) == 2 and all(r.status == "finished" for r in summary.records)
