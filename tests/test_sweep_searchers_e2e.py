"""Sweeps on real Ray Tune, sharing one Ray session: the RTE grid and causal-LM sweep files, cross-validated
trials pruned by their folds (scheduler=wilcoxon), and HyperBand's and BOHB's brackets.

Grid points run exactly once beside failing trials in tests/test_faults_e2e.py; random search runs its
trial count in test_budgets_e2e.py, test_memory_e2e.py and test_cluster_e2e.py; Optuna in the shared
CLI sweep (tests/small_sweep.py) and the SIGKILL resume; SMAC3 under ASHA in the extend test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.search.results.export import export
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow
# Reused workers: a fresh process per trial costs ~8 s of imports on 2 cores; test_memory_e2e covers fresh ones.
REUSE = "resources.reuse_workers=true"
ONE_EPOCH_SMALL = [*TINY_SST2, "trainer.epochs=1", "data.max_train_samples=96", "data.max_eval_samples=48", "logger=none", REUSE]


def test_rte_grid_sweep_file_runs_sentence_pairs(ray_session, out_dir: Path) -> None:
    prepared = prepare("rte_grid", [
        "model=tiny_bert", "trainer.epochs=1", "data.max_train_samples=64", "data.max_eval_samples=32",
        "trainer.max_seq_length=64", "logger=none", "resources.num_cpus=2", "searcher.max_concurrent=1", REUSE, f"sweep.output_dir={out_dir}",
        "search_space.trainer.batch_size.values=[16]",
    ])
    summary = export(run(prepared, verbose=False))
    assert len(summary.records) == 2  # grid_small: 2 learning rates x the one batch size kept
    assert all(r.status == "finished" for r in summary.records)


def test_causal_lm_sweep_minimises_perplexity_and_its_winner_retrains(ray_session, out_dir: Path, tmp_path: Path) -> None:
    from hpo.search.cli import main

    prepared = prepare("shakespeare_gpt2", [
        "model.config_overrides.n_embd=32", "model.config_overrides.n_layer=2", "model.config_overrides.n_head=2",
        "data.max_train_samples=60", "data.max_eval_samples=10", "trainer.max_seq_length=32", "trainer.epochs=1",
        "searcher=random", "scheduler=fifo", "sweep.num_trials=2", "searcher.max_concurrent=1", "logger=none", "resources.num_cpus=2", REUSE, f"sweep.output_dir={out_dir}",
    ])
    summary = export(run(prepared, verbose=False))
    values = [r.best["eval/perplexity"] for r in summary.records]
    assert len(values) == 2 and values == sorted(values)  # mode min: the lowest perplexity ranks first
    assert main(["train", "--config", str(out_dir / "best" / "config.yaml"), "--output-dir", str(tmp_path / "retrain")]) == 0
    assert (tmp_path / "retrain" / "best.json").is_file()


def test_cross_validated_trials_report_each_fold_and_a_losing_one_is_pruned_by_its_folds(ray_session, out_dir: Path) -> None:
    # scheduler=wilcoxon: the second grid point (a learning rate that throws the model off) loses on both of its
    # first 2 folds to the first trial's same folds; with 2 pairs the one-sided p-value is 1/4 < 0.3
    prepared = prepare("demo", [*ONE_EPOCH_SMALL, "searcher=grid", "scheduler=wilcoxon", "scheduler.p_threshold=0.3",
                                "scheduler.grace_period=1", "trainer.cv_folds=3", "sweep.metric=eval/loss", "sweep.mode=min",
                                "~search_space.trainer", "+search_space.trainer.learning_rate={type: grid, values: [1.0e-4, 0.5]}",
                                f"sweep.output_dir={out_dir}"])
    summary = export(run(prepared, verbose=False))
    by_lr = {r.params["trainer.learning_rate"]: r for r in summary.records}
    steady, thrown = by_lr[1.0e-4], by_lr[0.5]
    assert steady.status == "finished" and steady.evaluations == 3
    # ranked by its mean over all 3 folds, not by a running mean over fewer that happened to be lower
    assert {"eval/accuracy_std", "cv/fold0/loss", "cv/fold1/loss", "cv/fold2/loss"} <= set(steady.best)
    assert steady.best["cv/folds_done"] == 3
    assert (out_dir / "best" / "model" / "cv_folds.json").is_file()
    assert thrown.status == "stopped" and thrown.evaluations == 2, (thrown.status, thrown.evaluations)
    assert all(thrown.best[f"cv/fold{i}/loss"] > steady.best[f"cv/fold{i}/loss"] for i in range(2))


@pytest.mark.parametrize(("searcher", "scheduler"), [("random", "hyperband"), ("bohb", "bohb")])
def test_hyperband_brackets_run_every_planned_trial_and_resume_paused_ones(
    ray_session, out_dir: Path, searcher: str, scheduler: str,
) -> None:
    # ranked by the loss: the tiny BERT's first accuracies tie, and a bracket cannot rank a tie
    # max_t 2, halving: a bracket of 2 full-length trials, then one of 2 trials cut to 1 after 1 evaluation
    prepared = prepare("demo", [*ONE_EPOCH_SMALL, f"searcher={searcher}", f"scheduler={scheduler}", "sweep.num_trials=4",
                                "scheduler.reduction_factor=2", "searcher.max_concurrent=null", "trainer.epochs=2",
                                "sweep.metric=eval/loss", "sweep.mode=min", f"sweep.output_dir={out_dir}"])
    assert prepared.config["scheduler"]["max_t"] == 2  # counted from the longest trial
    summary = export(run(prepared, verbose=False))
    assert len(summary.records) == 4 and all(r.status in ("finished", "stopped") for r in summary.records)
    evaluations = sorted(r.evaluations for r in summary.records)
    assert evaluations == [1, 2, 2, 2], evaluations  # the second bracket stops one of its trials at its rung
    for record in summary.records:  # a paused trial continues from its checkpoint: no step is trained twice
        steps = list(record.history["step"])
        assert steps == sorted(set(steps)), (record.trial_id, steps)
