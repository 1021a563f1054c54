"""Sweeps that survive faults: injected failures retried as configured, SIGKILLed drivers resumed; and the
commands that add to a finished sweep: extend, confirm."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from benchmarks import chaos
from hpo.layout import experiment_dirs
from hpo.search.results.export import export
from hpo.search.results.records import collect_trials, evaluated_history
from hpo.search.run.resume import extend
from hpo.search.run.study_journal import RAY_TRIAL_ID, journal_storage
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
SMALL = [*TINY_SST2, "data.max_train_samples=96", "data.max_eval_samples=48", "logger=none", "scheduler=fifo"]
REUSE = ["resources.reuse_workers=true"]  # in-process sweeps here: save the per-trial imports


# Out of memory and NaN end to end (each failed trial costs a fresh worker process); tests/test_loop.py
# raises every fault kind, plain exceptions included, inside the training loop.
REASONS = {"nan": "NonFiniteLossError", "oom": "TrialOutOfMemoryError"}


def test_injected_failures_are_recorded_with_their_reason(ray_session, out_dir: Path) -> None:
    # a grid of one healthy trial and one trial per fault kind: each fault fails its trial, the sweep
    # goes on to every other point, records why, and exports the healthy trial
    prepared = prepare("demo", [
        *SMALL, *REUSE, "searcher=grid", "trainer.epochs=1", "~search_space.trainer",
        "+search_space.trainer.inject_fault={type: grid, values: [null, 'nan', oom]}",
        "trainer.inject_fault_at_step=2", f"sweep.output_dir={out_dir}",
    ])
    summary = export(run(prepared, verbose=False))
    assert sorted(str(r.params["trainer.inject_fault"]) for r in summary.records) == sorted([*REASONS, "None"])
    failed = [r for r in summary.records if r.params["trainer.inject_fault"] is not None]
    for record in failed:
        reason = REASONS[record.params["trainer.inject_fault"]]
        assert reason in record.error and "step 2" in record.error
        if reason == "TrialOutOfMemoryError":  # values that do not fit: infeasible, told to the searcher, not a crash
            assert record.status == "infeasible" and not (record.path / "error.txt").exists()
            continue
        assert record.status == "failed"
        text = (record.path / "error.txt").read_text()  # the full traceback is kept beside the trial
        assert reason in text and "trainers/engine/" in text  # raised where the training step runs
    assert summary.best is not None and summary.best.params["trainer.inject_fault"] is None
    assert summary.best.status == "finished" and summary.best.evaluations == 1
    assert (out_dir / "best" / "model" / "model.safetensors").is_file()
    csv_text = (out_dir / "leaderboard.csv").read_text()
    assert csv_text.count("failed") == 1 and csv_text.count("infeasible") == 1 and "TrialOutOfMemoryError" in csv_text
    assert not (out_dir / "wandb").exists()  # logger=none logs nothing


def test_failed_trials_are_retried_from_their_checkpoint(ray_session, out_dir: Path) -> None:
    # 6 steps per epoch: the fault at step 8 comes after the first checkpoint, so the retry resumes past it
    prepared = prepare("demo", [
        *SMALL, *REUSE, "searcher=random", "sweep.num_trials=1", "trainer.epochs=2", "sweep.max_failures=1",
        "search_space.trainer.batch_size.values=[16]",
        "trainer.inject_fault=exception", "trainer.inject_fault_at_step=8", f"sweep.output_dir={out_dir}",
    ])
    summary = export(run(prepared, verbose=False))
    assert [r.status for r in summary.records] == ["finished"]
    for record in summary.records:
        steps = [json.loads(line)["step"] for line in (record.path / "result.json").read_text().splitlines()]
        assert steps == [6, 12]  # epoch 1 before the fault, epoch 2 after the retry, no epoch twice
    # a driver SIGKILLed after Ray replaced a trial's checkpoint but before it saved its experiment state
    # leaves the state naming a folder that is gone: the records read the checkpoint the trial folder holds
    [record] = summary.records
    moved = record.checkpoint.rename(record.checkpoint.with_name("checkpoint_000009"))
    [reread] = collect_trials(out_dir, "eval/accuracy", "max")
    assert reread.checkpoint == moved and reread.best["eval/accuracy"] == record.best["eval/accuracy"]
    assert export(out_dir).best.checkpoint == moved and (out_dir / "best" / "model" / "model.safetensors").is_file()


CHAOS_KILLS = 5  # kills per run of this test (benchmarks/chaos.py makes more): each costs a driver start-up


def test_a_driver_killed_again_and_again_resumes_to_exactly_the_planned_trials(tmp_path: Path) -> None:
    """SIGKILL the driver at random points of one sweep (after 1 or 2 progress lines each time), resume each time."""
    out, trials, epochs = tmp_path / "sweep", 3, 2
    killed = chaos.chaos(out, kills=CHAOS_KILLS, trials=trials, epochs=epochs, seed=0, most_lines=2)
    assert killed["kills"] == CHAOS_KILLS, f"the sweep ended after {killed['kills']} kills: make it longer"
    checks = chaos.invariants(out, trials, epochs)
    # exactly the planned trials, none twice, no configuration sampled twice, every evaluation once, the
    # Optuna study the sweep records (hpo dashboard) the same trials with the same values and evaluations
    assert all(ok for name, ok in checks.items() if name != "details"), checks
    assert (out / "best" / "model" / "model.safetensors").is_file()


# SMAC3 under ASHA: SMAC's forest proposes, ASHA stops, extend warm-starts the forest. Optuna's warm start is
# the same hpo code (warm_start: Searcher.add_evaluated_point through the ConcurrencyLimiter).
def test_extend_adds_trials_and_warm_starts_the_searchers_model(ray_session, out_dir: Path) -> None:
    from ray.tune.search import ConcurrencyLimiter

    from hpo.search.algorithms.smac_search import SMACSearch

    prepared = prepare("demo", [*SMALL, *REUSE, "searcher=smac", "scheduler=asha", "sweep.num_trials=2",
                                "searcher.n_startup_trials=1", "trainer.epochs=1", f"sweep.output_dir={out_dir}"])
    run(prepared, verbose=False)
    first = collect_trials(out_dir, "eval/accuracy", "max")
    assert len(first) == 2 and all(r.status in ("finished", "stopped") for r in first)
    extend(out_dir, trials=1, history=evaluated_history(out_dir), verbose=False)
    assert [d.name for d in experiment_dirs(out_dir)] == ["trials", "trials-extend-1"]
    summary = export(out_dir)
    assert len(summary.records) == 3
    assert {r.trial_id for r in first} < {r.trial_id for r in summary.records}
    assert len({tuple(sorted(r.params.items())) for r in summary.records}) == 3  # nothing proposed twice
    study = optuna.load_study(study_name="demo", storage=journal_storage(out_dir))  # the extension continued the study
    assert sorted(t.user_attrs[RAY_TRIAL_ID] for t in study.trials) == sorted(r.trial_id for r in summary.records)
    restored = ConcurrencyLimiter(SMACSearch([], "eval/accuracy", "max", 0, 1), max_concurrent=2)
    restored.restore(str(next((out_dir / "trials-extend-1").glob("searcher-state-*.pkl"))))
    values = [-cost for _, cost, _ in restored.searcher._told]  # SMAC's cost is the negated accuracy
    assert len(values) == 3  # the 2 earlier trials were in the model before the new one
    assert {round(r.best["eval/accuracy"], 6) for r in first} <= {round(v, 6) for v in values}


def test_confirm_retrains_the_top_configurations_and_ranks_them_by_their_mean(ray_session, out_dir: Path, capsys) -> None:
    from hpo.search.cli import main

    top_k, seeds = 2, 2
    prepared = prepare("demo", [*SMALL, *REUSE, "searcher=random", "sweep.num_trials=3", "trainer.epochs=1",
                                "sweep.metric=eval/loss", "sweep.mode=min", f"sweep.output_dir={out_dir}"])
    top = [r.trial_id for r in export(run(prepared, verbose=False)).records[:top_k]]
    assert main(["confirm", str(out_dir), "--top-k", str(top_k), "--seeds", str(seeds)]) == 0
    printed = capsys.readouterr().out

    confirmation = json.loads((out_dir / "confirmation.json").read_text())
    assert confirmation["metric"] == "eval/loss" and confirmation["seeds"] == [0, 1]
    ranked = confirmation["ranked"]
    assert sorted(c["trial_id"] for c in ranked) == sorted(top)  # the sweep's top 2, by one run each
    for c in ranked:
        assert len(c["values"]) == seeds and c["mean"] == pytest.approx(sum(c["values"]) / seeds)
        assert min(c["values"]) <= c["low"] <= c["mean"] <= c["high"] <= max(c["values"])
    assert ranked[0]["mean"] <= ranked[1]["mean"]  # eval/loss: the lowest mean first
    # one run per (configuration, seed), each with its own seed: the runs differ
    runs = [json.loads(p.read_text()) for p in (out_dir / "confirm").glob("trial_*/params.json")]
    assert sorted((r["candidate"]["trial"], r["seed"]) for r in runs) == sorted((t, s) for t in top for s in range(seeds))
    assert any(len(set(c["values"])) > 1 for c in ranked)
    # the export takes the best mean; the leaderboard shows mean and interval beside the single run
    best = yaml.safe_load((out_dir / "best" / "metrics.yaml").read_text())
    assert best["trial_id"] == ranked[0]["trial_id"] and best["confirmation"]["mean"] == pytest.approx(ranked[0]["mean"])
    board = (out_dir / "leaderboard.md").read_text()
    assert f"Confirmed: the top {top_k} configurations retrained with {seeds} seeds" in board
    row = next(line for line in board.splitlines() if f"| {ranked[0]['trial_id']} |" in line)
    assert f"{ranked[0]['mean']:.4g} [{ranked[0]['low']:.4g}, {ranked[0]['high']:.4g}]" in row
    assert "confirmation.md" in printed and f"Best trial: {ranked[0]['trial_id']}" in printed
