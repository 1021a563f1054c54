"""The real fine-tuning benchmark: its compute accounting, and its smoke mode end to end.

The benchmark itself is not part of the suite (an hour of MiniLM training on 2 cores); the smoke
mode runs the same five methods (hpo grid, hpo's default, hpo PBT, ``Trainer.hyperparameter_search``,
the Trainer's defaults) with a tiny BERT, 64 rows, 2 trials each, 1 epoch and 32 test rows.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import finetune


def trial(name: str, *evaluations: tuple[float, float]) -> dict:
    return {"trial": name, "params": {}, "status": "finished",
            "evaluations": [{"epoch": i + 1.0, "accuracy": acc, "time": at} for i, (at, acc) in enumerate(evaluations)]}


def test_compute_is_counted_in_the_order_evaluations_happened() -> None:
    # two concurrent trials: b's first epoch ends between a's first and second
    trials = [trial("a", (10.0, 0.6), (30.0, 0.8)), trial("b", (20.0, 0.7))]
    assert [e["trial"] for e in finetune.evaluations_in_order(trials)] == ["a", "b", "a"]
    curve = finetune.anytime(trials)
    assert curve == [0.6, 0.7, 0.8]
    assert finetune.epochs_to_reach(curve, 0.7) == 2
    assert finetune.epochs_to_reach(curve, 0.9) is None


def test_target_counts_epochs_against_a_third_of_grid() -> None:
    runs = {
        "grid": {"wall_seconds": 1.0, "trials": [trial(str(i), (i, 0.5 + i / 100), (i + 10, 0.6 + i / 100), (i + 20, 0.7 + i / 100)) for i in range(3)]},
        "tpe_asha": {"wall_seconds": 1.0, "trials": [trial("x", (1.0, 0.8)), trial("y", (2.0, 0.6))]},
    }
    summary = finetune.summarise(runs)
    assert summary["grid_epochs"] == 9 and summary["grid_best"] == pytest.approx(0.72)
    asha = summary["methods"]["tpe_asha"]
    assert (asha["epochs_run"], asha["epochs_to_reach_grid_best"]) == (2, 1)
    assert summary["target"]["hpo_tpe_asha_reaches_grid_best_within_third_of_grid_compute"]["met"]


def test_grid_must_match_the_trial_count() -> None:
    with pytest.raises(ValueError, match="grid has 4 points"):
        finetune.Settings(trials=6, learning_rates=(1e-5, 1e-4), batch_sizes=(16, 32))


@pytest.mark.slow
def test_smoke_runs_every_method(tmp_path) -> None:
    # every method but the Trainer's defaults (no Ray, no sweep: the cheapest), which --merge then adds
    some = [m for m in finetune.METHODS if m != "trainer_defaults"]
    first = finetune.main(["--smoke", "--out", str(tmp_path), "--methods", *some])
    assert set(json.loads(first["json"].read_text())["runs"]) == set(some)
    paths = finetune.main(["--smoke", "--out", str(tmp_path), "--methods", "trainer_defaults", "--merge"])
    assert paths["json"] == first["json"]
    result = json.loads(paths["json"].read_text())
    assert result["complete"] and set(result["runs"]) == set(finetune.METHODS)
    assert "--merge" in result["environment"]["command"] and " && " in result["environment"]["command"]
    [one] = result["runs"]["hpo_defaults"]["trials"]
    assert (one["params"]["learning_rate"], one["params"]["batch_size"]) == finetune.trainer_default_settings() == (5e-5, 8)
    settings = result["environment"]["settings"]
    for name, summary in result["summary"]["methods"].items():
        trials = 1 if name in ("trainer_defaults", "hpo_defaults") else settings["trials"]  # PBT's population is 2 in smoke mode too
        assert summary["trials"] == trials, name
        # 1 epoch per trial: every trial evaluated exactly once
        assert summary["epochs_run"] == trials, name
        assert 0 < summary["best_accuracy"] <= 1, name
        # every winner scored on the test rows, which no method selected on
        assert 0 <= summary["test_accuracy"] <= 1, name
    assert set(result["summary"]["target"]) == {"hpo_tpe_asha_reaches_grid_best_within_third_of_grid_compute",
                                                "hpo_default_winner_test_at_least_the_trainers"}
    grid = result["runs"]["grid"]["trials"]
    assert sorted(t["params"]["learning_rate"] for t in grid) == sorted(settings["learning_rates"])
    table = paths["md"].read_text()
    assert all(f"| {m.label} |" in table for m in finetune.METHODS.values())
    assert "Target" in table and result["environment"]["versions"]["transformers"]
    summary = (tmp_path / "finetune_summary.md").read_text()
    assert "| sst2 (0) |" in summary and "| mean over the slices |" in summary
