"""The whole path as a user runs it: ``hpo sweep`` (Optuna TPE + ASHA + W&B offline), export, ``hpo train``.

The sweep is the session's shared CLI sweep (tests/small_sweep.py): tiny BERT on an SST-2 slice,
ranked by eval/loss (min). Tests that rewrite its files work on a copy.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from tests.helpers.wandb_offline import read_offline_runs
from tests.small_sweep import EPOCHS, EVAL_ROWS, HPO, METRIC, MODE, NUM_TRIALS, copy_sweep, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow
BEST = f"best {METRIC}"  # the leaderboard's ranking column


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    return env


@pytest.fixture
def sweep(small_sweep) -> tuple[Path, str]:  # noqa: F811
    return small_sweep.sweep_dir, small_sweep.stdout


def leaderboard(out: Path) -> list[dict[str, str]]:
    with (out / "leaderboard.csv").open() as f:
        return list(csv.DictReader(f))


def test_progress_and_final_leaderboard_are_printed(sweep) -> None:
    out, stdout = sweep
    assert f"metric {METRIC} ({MODE})" in stdout.splitlines()[0]
    progress = [line for line in stdout.splitlines() if line.startswith("[")]
    assert any(f"eval 1: {METRIC}=" in line for line in progress)
    assert all("running" in line and "finished" in line and "stopped" in line for line in progress)
    assert any(f"best {METRIC}=" in line for line in progress)
    assert sum(" started: learning_rate=" in line for line in progress) == NUM_TRIALS
    assert sum(line.split("|")[0].rstrip().endswith((" finished", " stopped")) for line in progress) == NUM_TRIALS
    assert "| rank | trial | status |" in stdout
    assert f"Best config: {out / 'best' / 'config.yaml'}" in stdout


def test_every_trial_ran_and_asha_stopped_some_early(sweep) -> None:
    rows = leaderboard(sweep[0])
    assert len(rows) == NUM_TRIALS
    statuses = [r["status"] for r in rows]
    assert "stopped" in statuses, statuses
    assert "finished" in statuses, statuses
    for row in rows:
        evaluations = int(row["evaluations"])
        assert 1 <= evaluations <= EPOCHS, row
        assert (evaluations < EPOCHS) == (row["status"] == "stopped"), row


def test_leaderboard_ranks_by_best_evaluation_not_last(sweep) -> None:
    out, _ = sweep
    rows = leaderboard(out)
    values = [float(r[BEST]) for r in rows]
    assert values == sorted(values, reverse=MODE == "max")
    best_of = max if MODE == "max" else min
    runs = {run.name: run for run in read_offline_runs(out / "wandb")}
    for row in rows:
        history = [h for h in runs[f"trial_{row['trial']}"].history if METRIC in h]
        best = best_of(history, key=lambda h: h[METRIC])
        assert float(row[BEST]) == pytest.approx(best[METRIC])
        assert float(row["best epoch"]) == pytest.approx(best["epoch"])  # the best evaluation's epoch, not the last's
    assert (out / "leaderboard.md").read_text().count("\n| ") >= NUM_TRIALS + 1


def test_the_sweep_learns(sweep) -> None:
    rows = leaderboard(sweep[0])
    # chance on SST-2 is about 0.5 accuracy and a loss of ln 2 (the majority class gives 0.525 and 0.692)
    assert float(rows[0][BEST]) < math.log(2) - 0.02
    assert max(float(r["eval/accuracy"]) for r in rows) > 0.6


def test_wandb_has_one_run_per_trial_in_the_sweep_group(sweep) -> None:
    out, _ = sweep
    runs = [run for run in read_offline_runs(out / "wandb") if run.job_type == "trial"]  # besides the sweep-summary run
    rows = {r["trial"]: r for r in leaderboard(out)}
    assert sorted(run.name for run in runs) == sorted(f"trial_{t}" for t in rows)
    assert len({run.group for run in runs}) == 1 and runs[0].group.startswith("demo-")
    for run in runs:
        row = rows[run.name.removeprefix("trial_")]
        assert run.config["trainer"]["learning_rate"] == pytest.approx(float(row["trainer.learning_rate"]))
        assert run.config["params"]["trainer.batch_size"] == int(row["trainer.batch_size"])
        assert run.config["model"]["name"] == "tiny_bert"
        evals = [h for h in run.history if "eval/accuracy" in h]
        assert len(evals) == int(row["evaluations"])
        assert all({"eval/loss", "eval/f1", "train/loss", "data/leaked_eval_rows", "sys/rss_mb"} <= set(h) for h in evals)


def test_exported_config_composes_and_matches_the_best_trial(sweep) -> None:
    out, _ = sweep
    best = leaderboard(out)[0]
    cfg = resolve(compose_config(str(out / "best" / "config.yaml")))
    check(cfg)
    assert cfg["trainer"]["learning_rate"] == pytest.approx(float(best["trainer.learning_rate"]))
    assert cfg["trainer"]["batch_size"] == int(best["trainer.batch_size"])
    exported = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert exported["trial_id"] == best["trial"]
    assert exported["metrics"][METRIC] == pytest.approx(float(best[BEST]))
    assert exported["metrics"]["eval/accuracy"] == pytest.approx(float(best["eval/accuracy"]))


def test_exported_checkpoint_loads_and_reproduces_its_metric(sweep) -> None:
    out, _ = sweep
    checkpoint = out / "best" / "model"
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    with torch.no_grad():
        logits = model(**tokenizer(["a gorgeous, moving film"], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
    saved = json.loads((checkpoint / "hpo_checkpoint.json").read_text())
    exported = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    for name in (METRIC, "eval/accuracy", "epoch"):
        assert saved["metrics"][name] == pytest.approx(exported["metrics"][name])


def test_the_top_trials_are_scored_on_a_test_split_no_trial_saw(sweep) -> None:
    out, stdout = sweep
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["data"]["test_path"].endswith("sst2/test.tsv")  # data=sst2 ships GLUE's labelled dev set as its test split
    # nothing a trial reported, and so nothing the searcher or ASHA ranked or stopped on, came from the test rows
    reported = set()
    for result in (out / "trials").glob("trial_*/result.json"):
        for line in result.read_text().splitlines():
            row = json.loads(line)
            reported |= set(row)
            assert row["data/eval_rows"] == EVAL_ROWS
    assert reported and not {key for key in reported if key.startswith("test/")}
    # after the sweep, the 3 best trials (sweep.test_top_k) were scored on it
    scores = json.loads((out / "test_scores.json").read_text())
    ranked = [row["trial"] for row in leaderboard(out)]
    assert list(scores["trials"]) == ranked[:3] and scores["validation_rows"] == EVAL_ROWS
    assert "scored the top 3 trials on the test split" in stdout
    # the winner's test figures, recomputed here from its exported weights on the same rows
    from hpo.trainers.data.loading import load_splits

    splits = load_splits(cfg["data"], seed=cfg["sweep"]["seed"], with_test=True)
    assert scores["test_rows"] == len(splits.test) == 872
    checkpoint = out / "best" / "model"
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    with torch.no_grad():
        batch = tokenizer(list(splits.test["text"]), truncation=True, max_length=cfg["trainer"]["max_seq_length"], padding=True, return_tensors="pt")
        logits = model(**batch).logits
    labels = torch.tensor(list(splits.test["label"]))
    exported = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert exported["test_metrics"]["test/accuracy"] == pytest.approx((logits.argmax(-1) == labels).float().mean().item())
    assert exported["test_metrics"]["test/loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-4)
    gap = exported["validation_test_gap"]
    assert gap["validation"] == pytest.approx(exported["metrics"][METRIC]) and gap["test"] == exported["test_metrics"]["test/loss"]
    manifest = json.loads((out / "best" / "manifest.json").read_text())
    assert manifest["test"]["metrics"] == exported["test_metrics"]
    # validation and test side by side in the leaderboard, with the test split named in its header
    board = (out / "leaderboard.md").read_text()
    assert "Test split: the top 3 trials scored on 872 test rows" in board
    header = board.split("\n| rank")[1].split("\n")[0]
    assert f"| {BEST} | test/loss | validation-test gap |" in f"| rank{header}"


def test_hpo_train_retrains_the_winner_to_the_exported_metric(sweep, tmp_path: Path) -> None:
    out, _ = sweep
    exported = yaml.safe_load((out / "best" / "metrics.yaml").read_text())["metrics"]
    proc = subprocess.run(
        [HPO, "train", "--config", str(out / "best" / "config.yaml"), "--output-dir", str(tmp_path / "train")],
        capture_output=True, text=True, timeout=600, env=_env(),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    history = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    same_epoch = next(h for h in history if h["epoch"] == exported["epoch"])
    assert same_epoch["eval/accuracy"] == pytest.approx(exported["eval/accuracy"], abs=0.02)
    assert same_epoch[METRIC] == pytest.approx(exported[METRIC], abs=0.01)
    AutoModelForSequenceClassification.from_pretrained(tmp_path / "train" / "checkpoint")


def test_best_checkpoint_keeps_predictions_report_and_confusion_matrix(sweep) -> None:
    checkpoint = sweep[0] / "best" / "model"
    predictions = json.loads((checkpoint / "eval_predictions.json").read_text())
    report = json.loads((checkpoint / "eval_report.json").read_text())
    assert predictions["label_names"] == ["0", "1"] and len(predictions["references"]) == EVAL_ROWS
    assert all(abs(sum(p) - 1) < 1e-5 for p in predictions["probabilities"])
    assert sum(map(sum, report["confusion_matrix"])) == EVAL_ROWS
    accuracy = sum(report["confusion_matrix"][i][i] for i in range(2)) / EVAL_ROWS
    exported = yaml.safe_load((sweep[0] / "best" / "metrics.yaml").read_text())["metrics"]
    assert accuracy == pytest.approx(exported["eval/accuracy"])
    assert set(report["per_class"]) >= {"0", "1", "macro avg", "weighted avg"}


def test_hpo_export_rewrites_the_leaderboard_and_best(small_sweep, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from hpo.search.cli import main

    out = copy_sweep(small_sweep, tmp_path / "sweep")  # the other tests read the shared sweep's own files
    expected = leaderboard(out)
    (out / "leaderboard.csv").unlink()
    (out / "best" / "config.yaml").unlink()
    assert main(["export", str(out)]) == 0
    printed = capsys.readouterr().out
    assert leaderboard(out) == expected and len(expected) == NUM_TRIALS
    assert (out / "best" / "config.yaml").is_file() and f"Best config: {out / 'best' / 'config.yaml'}" in printed
