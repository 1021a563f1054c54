"""The GSM8K LoRA sweep as a user smoke-runs it offline: ``hpo sweep --config-name gsm8k_lora`` with the
tiny Llama-style decoder, through Ray Tune and W&B (offline), to the winner scored on GSM8K's test problems."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import yaml

from hpo.search.cli import main
from tests.helpers.wandb_offline import read_offline_runs

pytestmark = pytest.mark.slow
SMOKE = ["model=tiny_llama", "trainer.chat.template=chatml", "resources=cpu", "logger=wandb", "sweep.num_trials=2",
         "searcher.max_concurrent=1", "resources.reuse_workers=true", "data.max_train_samples=24", "data.max_eval_samples=6",
         "data.max_test_samples=4", "trainer.epochs=1", "trainer.max_seq_length=192", "trainer.chat.generate_samples=2",
         "trainer.chat.max_new_tokens=6"]


def test_the_gsm8k_lora_sweep_runs_scores_generations_and_exports(ray_session, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", "--config-name", "gsm8k_lora", *SMOKE, f"sweep.output_dir={out}"]) == 0
    trials = sorted((out / "trials").glob("trial_*"))
    assert len(trials) == 2
    for trial in trials:
        [result] = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert result["eval/loss"] > 0 and 0 <= result["eval/exact_match"] <= 1 and 0 <= result["eval/rouge_l"] <= 1
        params = json.loads((trial / "params.json").read_text())
        [checkpoint] = trial.glob("checkpoint_*")
        assert json.loads((checkpoint / "adapter_config.json").read_text())["r"] == params["model.lora.r"]
        assert len(json.loads((checkpoint / "eval_generations.json").read_text())) == 2
    metrics = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert metrics["test_metrics"]["test/loss"] > 0 and "test/exact_match" in metrics["test_metrics"]
    # each trial's W&B run (offline files) holds its evaluation's generations as a table
    runs = [r for r in read_offline_runs(out / "wandb") if r.job_type == "trial"]
    assert len(runs) == 2
    for run in runs:
        table = run.table("eval/generations")
        assert table["columns"] == ["prompt", "reference", "reply"] and len(table["data"]) == 2
    # the report (built at the end of a W&B sweep) shows the best trial's replies beside the references
    report = (out / "report" / "report.html").read_text()
    best_replies = json.loads((Path(metrics["source_checkpoint"]) / "eval_generations.json").read_text())
    assert "Generated replies" in report and html.escape(best_replies[0]["reference"][:40]) in report
    # hpo predict: a reply per problem, in order, from the adapter folded into its (re-drawn) base
    problems = tmp_path / "problems.jsonl"
    given = Path(yaml.safe_load((out / "best" / "config.yaml").read_text())["data"]["test_path"]).read_text().splitlines()[:3]
    problems.write_text("\n".join(given) + "\n")
    assert main(["predict", str(out), "--data", str(problems), "--out", str(tmp_path / "replies.jsonl")]) == 0
    replies = [json.loads(line) for line in (tmp_path / "replies.jsonl").read_text().splitlines()]
    assert [r["question"] for r in replies] == [json.loads(line)["question"] for line in given]
    assert all(isinstance(r["reply"], str) and r["answer"] for r in replies)
    # hpo evaluate: assistant-token loss and the generation metrics on those problems, with the replies in the page
    assert main(["evaluate", str(out), "--data", str(problems), "--out", str(tmp_path / "evaluation")]) == 0
    evaluation = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert evaluation["rows"] == 3 and {"eval/loss", "eval/exact_match", "eval/rouge_l"} <= set(evaluation["metrics"])
    assert "Generated replies" in (tmp_path / "evaluation" / "evaluation.html").read_text()
