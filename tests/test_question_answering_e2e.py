"""The SQuAD 2.0 sweep through ``hpo sweep`` with the pretrained MiniLM and LoRA (a QA head kept
trainable), to the winner's predictions and its test score. Small and short: it proves the
pipeline, not the quality (benchmarks/README.md has what MiniLM learns on these 870 questions)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from hpo.search.cli import main

pytestmark = pytest.mark.slow
SMOKE = ["logger=none", "sweep.num_trials=2", "searcher.max_concurrent=1", "resources.reuse_workers=true", "trainer.epochs=1",
         "data.max_train_samples=24", "data.max_eval_samples=8", "data.max_test_samples=8", "trainer.max_seq_length=96",
         "trainer.qa.doc_stride=24", "model.lora.enabled=true"]


def test_the_squad_sweep_runs_to_scored_predictions_and_a_tested_winner(ray_session, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", "--config-name", "squad_v2_minilm", *SMOKE, f"sweep.output_dir={out}"]) == 0
    for trial in sorted((out / "trials").glob("trial_*")):
        [result] = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert {"eval/f1", "eval/exact_match", "eval/no_answer_f1", "eval/loss"} <= set(result)
        [checkpoint] = trial.glob("checkpoint_*")
        predictions = json.loads((checkpoint / "eval_answers.json").read_text())
        assert len(predictions) == 8 and all(isinstance(a, str) for a in predictions.values())
        assert any("qa_outputs" in k for k in load_file(checkpoint / "adapter_model.safetensors"))  # the head trains with LoRA
    metrics = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    assert 0 <= metrics["test_metrics"]["test/f1"] <= 1
    assert main(["report", str(out)]) == 0  # the report of a QA sweep: the search and trial sections, no class plots
    assert "not for task question_answering" in (out / "report" / "report.html").read_text()
    # hpo predict: an answer (or "" for unanswerable) per question, in order, decoded as the evaluation decodes
    questions = tmp_path / "questions.jsonl"
    given = Path(yaml.safe_load((out / "best" / "config.yaml").read_text())["data"]["eval_path"]).read_text().splitlines()[:4]
    questions.write_text("\n".join(given) + "\n")
    assert main(["predict", str(out / "best" / "model"), "--data", str(questions), "--out", str(tmp_path / "answers.csv")]) == 0
    with (tmp_path / "answers.csv").open() as f:
        answers = list(csv.DictReader(f))
    assert [a["id"] for a in answers] == [json.loads(line)["id"] for line in given]
    for row, line in zip(answers, given, strict=True):
        assert row["answer"] in json.loads(line)["context"]
    # hpo evaluate: the same questions scored with the shipped SQuAD 2.0 metric, answers saved per question id
    assert main(["evaluate", str(out), "--data", str(questions), "--out", str(tmp_path / "evaluation")]) == 0
    evaluation = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert evaluation["rows"] == 4 and {"eval/f1", "eval/exact_match", "eval/loss"} <= set(evaluation["metrics"])
    assert len(json.loads((tmp_path / "evaluation" / "eval_answers.json").read_text())) == 4
