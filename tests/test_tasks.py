"""Regression and causal-LM fine-tuning, cross-validation, and the loop's optimisation options.

Each task runs on a small slice of the shared data with a tiny model and must learn above
chance; the options (accumulation, layer-wise decay, precision) are checked on what they change.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path

import pandas as pd
import pytest
import torch

from hpo.layout import CV_FILE, TRAINING_STATE_FILE
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.engine.checkpoint import ResumeState, save_checkpoint
from hpo.trainers.engine.engine import Engine, precision_context
from hpo.trainers.models.modeling import build_classifier, load_tokenizer
from hpo.trainers.models.optim import param_groups, parameter_depths
from hpo.trainers.runs.fine_tune import fine_tune
from hpo.trainers.runs.predict_file import predict_file
from hpo.trainers.tasks.base import TaskData
from hpo.trainers.tasks.registry import get_task
from tests.conftest import SST2

TINY_DEMO = ["model=tiny_bert", "data.num_train=64", "data.num_eval=32", "trainer.batch_size=16", "trainer.learning_rate=1e-3"]
TINY_GPT2 = [
    "model.config_overrides.n_embd=32", "model.config_overrides.n_layer=2", "model.config_overrides.n_head=2",
    "data.max_train_samples=120", "data.max_eval_samples=20", "trainer.max_seq_length=32",
    "trainer.batch_size=8", "trainer.learning_rate=1e-2", "trainer.warmup_ratio=0", "trainer.epochs=2", "logger=none",
]


def config(name: str, *overrides: str) -> dict:
    cfg = resolve(compose_config(name, list(overrides)))
    check(cfg)
    return cfg


def run(cfg: dict, saved: list | None = None) -> list[dict]:
    seen: list[dict] = []

    def on_evaluation(metrics, snapshot) -> None:
        seen.append(metrics)
        if saved is not None:
            saved.append(snapshot)

    fine_tune(cfg, on_evaluation, num_threads=1)
    return seen


def test_causal_lm_on_tiny_shakespeare_lowers_perplexity_far_below_chance() -> None:
    cfg = config("shakespeare_gpt2", *TINY_GPT2)
    history = run(cfg)
    perplexities = [h["eval/perplexity"] for h in history]
    assert len(perplexities) == 2 and perplexities[1] < perplexities[0]
    vocabulary = cfg["model"]["config_overrides"]["vocab_size"]
    assert perplexities[1] < vocabulary / 10  # a uniform guess over the vocabulary scores the vocabulary size
    assert history[-1]["eval/loss"] == pytest.approx(math.log(perplexities[1]), rel=1e-4)
    assert history[-1]["data/train_blocks"] > history[-1]["data/eval_blocks"] > 0


def test_causal_lm_reads_a_text_column(tmp_path: Path) -> None:
    frame = pd.read_csv(SST2 / "train.tsv", sep="\t", nrows=200)
    path = tmp_path / "reviews.jsonl"
    frame.rename(columns={"sentence": "review"}).to_json(path, orient="records", lines=True)
    cfg = config("shakespeare_gpt2", *TINY_GPT2, "trainer.epochs=1", "data.format=jsonl", f"data.train_path={path}", "data.text_column=review",
                 "trainer.chat.max_new_tokens=4")
    saved: list = []
    history = run(cfg, saved)
    assert math.isfinite(history[0]["eval/perplexity"])
    # hpo predict: a continuation of each text, through transformers' text-generation pipeline
    save_checkpoint(tmp_path / "ckpt", saved[-1], history[-1], cfg, with_training_state=False)
    first = tmp_path / "first.jsonl"
    first.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    assert predict_file(cfg, tmp_path / "ckpt", str(first), tmp_path / "out.csv", progress=False) == 3
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(out["review"]) == list(frame["sentence"][:3]) and all(isinstance(c, str) for c in out["continuation"])


def regression_file(tmp_path: Path, rows: int) -> Path:
    """SST-2 sentences with a star rating (1-2 negative, 4-5 positive): a numeric label column."""
    frame = pd.read_csv(SST2 / "train.tsv", sep="\t", nrows=rows)
    rng = random.Random(0)
    frame["stars"] = [float(rng.choice([4, 5]) if y else rng.choice([1, 2])) for y in frame["label"]]
    path = tmp_path / "stars.tsv"
    frame[["sentence", "stars"]].to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.slow
def test_regression_on_a_numeric_label_learns_above_chance(tmp_path: Path) -> None:
    # The pretrained MiniLM with its top layer trained: a random tiny model learns too slowly here.
    path = regression_file(tmp_path, 320)
    cfg = config(
        "demo", "trainer=regression", "data=files", "data.format=tsv", f"data.train_path={path}", "data.eval_path=null",
        "data.text_column=sentence", "data.label_column=stars", "data.validation_fraction=0.25", "sweep.metric=eval/pearsonr",
        "trainer.freeze_layers=5", "trainer.epochs=2", "trainer.learning_rate=1e-3", "trainer.max_seq_length=48", "logger=none",
    )
    saved: list = []
    history = run(cfg, saved)
    best = max(h["eval/pearsonr"] for h in history)
    assert best > 0.3, history  # a constant or random predictor correlates 0 with the target
    assert {"eval/mse", "eval/mae", "eval/spearmanr", "eval/loss"} <= set(history[-1])
    assert saved[-1].model.config.hpo_target_mean == pytest.approx(3.0, abs=0.5)  # kept for serving
    out = tmp_path / "ckpt"
    out.mkdir()
    saved[-1].evaluation.save(out)
    predictions = json.loads((out / "eval_predictions.json").read_text())
    assert len(predictions["predictions"]) == len(predictions["references"]) == 80
    assert 1 <= statistics.fmean(predictions["predictions"]) <= 5  # in stars, not standardised units
    mse = statistics.fmean((p - r) ** 2 for p, r in zip(predictions["predictions"], predictions["references"], strict=True))
    assert history[-1]["eval/mse"] == pytest.approx(mse, rel=1e-5)
    # hpo predict through transformers' pipeline, in stars again (the config's target mean and std)
    save_checkpoint(tmp_path / "model", saved[-1], history[-1], cfg, with_training_state=False)
    assert predict_file(cfg, tmp_path / "model", str(path), tmp_path / "stars.jsonl", progress=False) == 320
    rows = [json.loads(line) for line in (tmp_path / "stars.jsonl").read_text().splitlines()]
    assert statistics.correlation([r["prediction"] for r in rows], [r["stars"] for r in rows]) > 0.3
    assert 1 <= statistics.fmean(r["prediction"] for r in rows) <= 5


def test_k_fold_cross_validation_reports_every_fold_and_their_mean(tmp_path: Path) -> None:
    cfg = config("demo", *TINY_DEMO, "trainer.epochs=1", "trainer.cv_folds=3", "logger=none")
    saved: list = []
    history = run(cfg, saved)
    assert [h["cv/folds_done"] for h in history] == [1, 2, 3]
    folds = [history[-1][f"cv/fold{i}/accuracy"] for i in range(3)]
    assert history[-1]["eval/accuracy"] == pytest.approx(statistics.fmean(folds))
    assert history[-1]["eval/accuracy_std"] == pytest.approx(statistics.pstdev(folds))
    assert history[-1]["evaluations_planned"] == 3
    saved[-1].evaluation.save(tmp_path)
    kept = json.loads((tmp_path / CV_FILE).read_text())["folds"]
    assert [f["eval/accuracy"] for f in kept] == folds
    eval_rows = json.loads((tmp_path / "eval_predictions.json").read_text())["references"]
    assert len(eval_rows) in (21, 22)  # a third of the 64 training rows: each fold scores its own rows


@pytest.mark.parametrize("older", [False, True], ids=["training-state", "older-dict"])
def test_resumed_cross_validation_keeps_its_finished_folds(tmp_path: Path, older: bool) -> None:
    cfg = config("demo", *TINY_DEMO, "trainer.epochs=1", "trainer.cv_folds=3", "logger=none")
    straight: list[dict] = []

    def save_first_fold(metrics, snapshot) -> None:  # saved when reported, as a trial does: the state is live
        straight.append(metrics)
        if metrics["cv/folds_done"] == 1:
            snapshot.save(tmp_path)

    fine_tune(cfg, save_first_fold, num_threads=1)
    if older:  # the dict cross-validation wrote before TrainingState
        state = torch.load(tmp_path / TRAINING_STATE_FILE, weights_only=False)
        torch.save({key: state[key] for key in ("cv_folds", "history", "best")}, tmp_path / TRAINING_STATE_FILE)
    resumed: list[dict] = []
    fine_tune(cfg, lambda metrics, snapshot: resumed.append(metrics), num_threads=1, resume=ResumeState.load(tmp_path))
    assert [m["cv/folds_done"] for m in resumed] == [2, 3]
    assert resumed[-1]["cv/fold0/accuracy"] == straight[-1]["cv/fold0/accuracy"]
    assert resumed[-1]["eval/accuracy"] == pytest.approx(straight[-1]["eval/accuracy"])


def test_gradient_accumulation_matches_one_large_batch() -> None:
    cfg = config("demo", *TINY_DEMO, "trainer.dropout=0")
    task = get_task("classification")
    data = TaskData([], [], ["negative", "positive"])
    batch = {"input_ids": torch.randint(1000, 2000, (8, 12)), "attention_mask": torch.ones(8, 12, dtype=torch.long),
             "labels": torch.randint(0, 2, (8,))}
    grads = []
    for halves in (1, 2):
        torch.manual_seed(0)
        model = build_classifier(cfg["model"], data.label_names, 0.0)
        engine = Engine.create(model, model, cfg["trainer"], 1, torch.device("cpu"), precision_context("fp32", torch.device("cpu")))
        for part in range(halves):
            rows = slice(part * 8 // halves, (part + 1) * 8 // halves)
            engine.backward({k: v[rows] for k, v in batch.items()}, lambda m, b: task.loss(m, b, cfg["trainer"], data), scale=1 / halves)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_gradient_accumulation_counts_optimizer_steps() -> None:
    history = run(config("demo", *TINY_DEMO, "trainer.epochs=1", "trainer.batch_size=8", "trainer.gradient_accumulation_steps=3"))
    assert history[-1]["step"] == 3  # 64 rows / 8 = 8 batches, in groups of 3: 3 optimizer steps


def test_layer_wise_learning_rate_decay_scales_each_depth() -> None:
    cfg = config("demo", *TINY_DEMO)
    model = build_classifier(cfg["model"], ["a", "b"], 0.1)
    depths, top = parameter_depths(model)
    assert top == 3  # embeddings 0, two layers 1 and 2, head 3
    groups = param_groups(model, 1e-3, 0.01, layer_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == pytest.approx(1e-3 * 0.5**3)
    assert lr_of[id(named["bert.encoder.layer.0.attention.self.query.weight"])] == pytest.approx(1e-3 * 0.5**2)
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == pytest.approx(1e-3 * 0.5)
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-3)
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay_of[id(named["bert.encoder.layer.0.attention.self.query.bias"])] == 0.0
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)


def test_bf16_mixed_precision_trains_on_cpu() -> None:
    history = run(config("demo", *TINY_DEMO, "trainer.epochs=2", "trainer.precision=bf16"))
    assert all(math.isfinite(h["train/loss"]) and math.isfinite(h["eval/loss"]) for h in history)
    assert history[-1]["eval/loss"] < history[0]["train/loss"] + 0.5


def test_augmentation_grows_training_rows_only() -> None:
    task = get_task("classification")
    plain = config("demo", *TINY_DEMO)
    augmented = config("demo", *TINY_DEMO, "trainer.augment.ratio=1.0")
    splits = task.load_splits(plain["data"], seed=0)
    tokenizer = load_tokenizer(plain["model"])
    before = task.prepare(splits, tokenizer, plain["trainer"])
    after = task.prepare(splits, tokenizer, augmented["trainer"])
    assert len(after.train_rows) == 2 * len(before.train_rows)
    assert after.eval_rows == before.eval_rows
    assert after.report["data/augmented_rows"] == len(before.train_rows)
    assert sorted(r["labels"] for r in after.train_rows) == sorted(2 * [r["labels"] for r in before.train_rows])


def test_domain_adaptation_is_stage_one_of_the_same_trial() -> None:
    overrides = [*TINY_DEMO, "data.num_train=160", "trainer.epochs=1", "logger=none"]
    adapted = run(config("demo", *overrides, "trainer.domain_adaptation.enabled=true", "trainer.domain_adaptation.epochs=2",
                         "trainer.domain_adaptation.learning_rate=1e-3", "trainer.domain_adaptation.eval_fraction=0.1"))
    plain = run(config("demo", *overrides))
    report = adapted[-1]
    assert report["adapt/texts"] > 0 and report["adapt/perplexity_after"] < report["adapt/perplexity_before"]
    assert report["eval/loss"] != pytest.approx(plain[-1]["eval/loss"], rel=1e-6)  # stage two started from the adapted encoder
    assert not any(k.startswith("adapt/") for k in plain[-1])
