"""Bad input fails on the driver before Ray starts, in one paragraph naming key, value and choices."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import ray

from hpo.errors import ConfigError
from hpo.search.cli import main
from tests.conftest import SST2


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "Traceback" not in captured.err
    assert not ray.is_initialized(), "Ray must not start for bad input"
    message = captured.err.strip()
    assert message.startswith("hpo: error: ") and "\n" not in message  # one paragraph
    return message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["searcher=bayes"], ["searcher/bayes", "grid", "optuna", "random"]),
        (["scheduler=median"], ["scheduler/median", "asha", "bohb", "fifo", "hyperband"]),
        (["searcher=bohb"], ["scheduler.name", "searcher=bohb needs scheduler=bohb", "asha"]),
        (["scheduler=hyperband", "scheduler.max_t=9"], ["searcher.max_concurrent", "brackets of up to 9 trials", "null"]),
        (["scheduler=pbt"], ["searcher.name", "scheduler=pbt", "searcher=random", "optuna"]),
        (["scheduler=pbt", "searcher=random"], ["searcher.max_concurrent", "population", "sweep.num_trials = 8"]),
        (["scheduler=pbt", "searcher=random", "trainer.cv_folds=3"], ["trainer.cv_folds", "checkpoint"]),
        (["scheduler=wilcoxon"], ["trainer.cv_folds", "scheduler=wilcoxon", ">= 3"]),
        (["scheduler=wilcoxon", "trainer.cv_folds=3", "scheduler.grace_period=3"], ["scheduler.grace_period", "1 to 2"]),
        (["scheduler=pbt", "searcher=random", "searcher.max_concurrent=null", "scheduler.perturb=[trainer.batch_size]"],
         ["scheduler.perturb", "trainer.batch_size", "trainer.learning_rate", "trainer.dropout"]),
        (["+trainer.pbt_schedule=[{evaluation: 0, params: {trainer.learning_rate: 0.1}}]"], ["trainer.pbt_schedule", "evaluation: n >= 1"]),
        (["sweep.budget.epochs=0"], ["sweep.budget.epochs", "must be > 0"]),
        (["model=gpt5"], ["model/gpt5", "minilm", "tiny_bert"]),
        (["data=imdb"], ["data/imdb", "demo", "rte", "sst2"]),
        (["searcher.sampler=annealing"], ["searcher.sampler", "annealing", "tpe", "gp", "cmaes", "qmc"]),
        (["trainer.epochs=three"], ["trainer.epochs", "three", "int"]),
        (["trainer.learning_rate=fast"], ["trainer.learning_rate", "fast", "float"]),
        (["+trainer.epoch=3"], ["trainer.epoch", "unknown key", "epochs"]),
        (["+trainer.augment.rate=2"], ["trainer.augment.rate", "unknown key", "ratio", "word_fraction"]),
        (["trainer.augment.ratio=lots"], ["trainer.augment.ratio", "lots", "float"]),
        (["data/clean=strict"], ["data/clean/strict", "default", "none"]),
        (["data.clean.dedup=fuzzy"], ["data.clean.dedup", "fuzzy", "none", "exact", "near"]),
        (["data.validation_fraction=1.5"], ["data.validation_fraction", "(0, 1)", "1.5"]),
        # the test split: one source, one the format can give, a file that is there
        (["data=sst2", "data.test_path=/nonexistent/test.tsv"], ["data.test_path", "file not found", "/nonexistent/test.tsv"]),
        (["data=sst2", "data.test_fraction=0.2"], ["data.test_fraction", "one test source", "data.test_path"]),
        (["data=sst2", "data.test_path=null", "data.test_split=test"], ["data.test_split", "format=hub", "data.test_path"]),
        (["data.test_fraction=1.5"], ["data.test_fraction", "(0, 1)", "1.5"]),
        (["data=sst2", "sweep.test_top_k=0"], ["sweep.test_top_k", ">= 1"]),
        (["sweep.confirm_top_k=2", "sweep.confirm_seeds=1"], ["sweep.confirm_seeds", ">= 2"]),
        (["trainer.learning_rate=-1"], ["trainer.learning_rate", "must be > 0"]),
        (["trainer.freeze=top"], ["trainer.freeze", "top", "none", "embeddings", "all_but_head"]),
        (["trainer.lr_scheduler=cosine_annealing"], ["trainer.lr_scheduler", "cosine_annealing", "linear", "cosine", "constant_with_warmup"]),
        (["trainer.label_smoothing=1.5"], ["trainer.label_smoothing", "[0, 1)"]),
        (["sweep.mode=maximise"], ["sweep.mode", "maximise", "max", "min"]),
        (["sweep.metric=eval/auc"], ["sweep.metric", "eval/auc", "eval/accuracy", "eval/loss"]),
        (["search_space.trainer.learning_rate.low=1e-2"], ["search_space.trainer.learning_rate", "low must be below high"]),
        (["search_space.trainer.learning_rate.low=0"], ["search_space.trainer.learning_rate.low", "bounds > 0"]),
        (["+search_space.trainer.lr={type: uniform, low: 0, high: 1}"], ["search_space.trainer.lr", "no such config key", "learning_rate"]),
        (["+search_space.trainer.epochs={type: uniform, low: 1, high: 4}"], ["search_space.trainer.epochs", "integer", "int, choice, grid"]),
        (["+search_space.trainer.lr_scheduler={type: uniform, low: 1, high: 4}"], ["search_space.trainer.lr_scheduler", "choice or grid of names"]),
        (["searcher=grid"], ["search_space.trainer", "grid searcher needs finite values", "grid, choice"]),
        (["scheduler.grace_period=5"], ["scheduler.max_t", "grace_period"]),
        (["data=files"], ["data.train_path", "required"]),
        (["data=hub"], ["data.hub_name", "required", "format hub"]),
        (["data=files", "data.train_path=/nonexistent/train.tsv", "data.eval_path=/nonexistent/dev.tsv"], ["data.train_path", "file not found", "/nonexistent/train.tsv"]),
        (["data=sst2", "data.text_column=review"], ["data.text_column", "review", "column not found", "sentence", "label"]),
        (["model.pretrained=/nonexistent/model"], ["model.pretrained", "/nonexistent/model"]),
        # the tasks and the training options of the fine-tuning loop
        (["trainer.task=translation"], ["trainer.task", "translation", "classification", "regression", "causal_lm"]),
        (["trainer=regression"], ["sweep.metric", "eval/accuracy", "eval/mse", "eval/pearsonr"]),
        (["trainer.metrics=[perplexity]"], ["trainer.metrics", "perplexity", "classification", "accuracy", "roc_auc"]),
        (["trainer.precision=fp8"], ["trainer.precision", "fp8", "fp32", "bf16", "fp16"]),
        (["trainer.precision=fp16"], ["trainer.precision", "fp16 needs a GPU", "bf16"]),
        (["trainer.layer_lr_decay=0"], ["trainer.layer_lr_decay", "(0, 1]"]),
        (["trainer.gradient_accumulation_steps=0"], ["trainer.gradient_accumulation_steps", ">= 1"]),
        (["trainer.cv_folds=1"], ["trainer.cv_folds", ">= 2"]),
        (["trainer.cv_folds=500"], ["trainer.cv_folds", "rarest class"]),
        (["trainer.augment.ratio=-1"], ["trainer.augment.ratio"]),
        (["trainer.augment.ops=[shuffle]"], ["trainer.augment.ops", "shuffle", "swap", "synonym"]),
        (["trainer.domain_adaptation.enabled=true", "trainer.domain_adaptation.text_path=/nonexistent/in_domain.txt"],
         ["trainer.domain_adaptation.text_path", "/nonexistent/in_domain.txt"]),
        (["data=tinyshakespeare"], ["data.format", "trainer=causal_lm"]),
        (["trainer=causal_lm", "model=tiny_gpt2", "sweep.metric=eval/perplexity", "sweep.mode=min", "data=hub", "data.hub_name=glue"],
         ["data.format", "hub", "language modelling", "text", "jsonl"]),
        (["trainer=regression", "sweep.metric=eval/mse", "sweep.mode=min", "trainer.class_weights=balanced"],
         ["trainer.class_weights", "only for classification"]),
        (["trainer=regression", "sweep.metric=eval/mse", "sweep.mode=min", "data=rte"], ["data.label_column", "not a number"]),
        (["--config-name", "shakespeare_gpt2", "trainer.max_seq_length=1024"], ["trainer.max_seq_length", "256 positions"]),
        # every task checks the model's position limit, over the whole searched range, not the default alone
        (["model=minilm", "data=sst2", "trainer.max_seq_length=1000"], ["trainer.max_seq_length", "512 positions", "1000"]),
        (["model=minilm", "data=sst2", "+search_space.trainer.max_seq_length={type: int, low: 64, high: 700}"],
         ["trainer.max_seq_length", "512 positions", "700"]),
        (["data=files", "data.train_path=/tmp"], ["data.train_path", "is a folder", "/tmp"]),
        # objectives and constraints (multi-objective sweeps)
        (["sweep.objectives=[eval/latency_ms]"], ["sweep.objectives[0]", "<metric>:<max|min>", "max", "min"]),
        (["sweep.objectives=[eval/speed:min]"], ["sweep.objectives[0]", "eval/speed", "eval/latency_ms", "eval/params_m"]),
        (["sweep.objectives=[eval/accuracy:min]"], ["sweep.objectives[0]", "already an objective"]),
        (['sweep.constraints=["eval/latency_ms<20"]'], ["sweep.constraints[0]", "<metric><=<number>"]),
        (['sweep.constraints=["eval/speed<=20"]'], ["sweep.constraints[0]", "eval/speed", "eval/latency_ms"]),
        (["sweep.objectives=[eval/latency_ms:min]", "searcher.sampler=cmaes"], ["searcher.sampler", "one objective", "nsga2"]),
        (["sweep.objectives=[eval/latency_ms:min]", "searcher=smac", "scheduler=asha"], ["searcher.name", "optuna", "random"]),
        # a searched range meets the checks the config's own value meets, at both ends
        (["search_space.trainer.warmup_ratio.high=2"], ["search_space.trainer.warmup_ratio", "reaches 2", "[0, 1]"]),
        (["+search_space.trainer.label_smoothing={type: uniform, low: 0, high: 1}"], ["search_space.trainer.label_smoothing", "reaches 1", "[0, 1)"]),
        (["+search_space.trainer.gradient_accumulation_steps={type: int, low: 0, high: 4}"],
         ["search_space.trainer.gradient_accumulation_steps", "reaches 0", ">= 1"]),
        (["+search_space.model.lora.r={type: choice, values: [8, 0]}"], ["search_space.model.lora.r", "reaches 0", ">= 1"]),
        (["--config-name", "shakespeare_gpt2", "data.format=tsv", f"data.train_path={SST2 / 'train.tsv'}", "data.text_column=review"],
         ["data.text_column", "review", "sentence"]),
    ],
)
def test_bad_input_names_key_value_and_choices(overrides: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    message = run_cli(["sweep", *overrides], capsys)
    for text in expected:
        assert text in message, message


def test_unknown_sweep_lists_the_sweeps(capsys: pytest.CaptureFixture[str]) -> None:
    message = run_cli(["sweep", "--config-name", "nope"], capsys)
    assert "nope" in message and "demo" in message and "rte_grid" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "file is empty"),
        ("sentence\tlabel\nfine film\t1\nbad film\tnegative\n", "mixes label types"),
        ("sentence\tlabel\nonly one\t1\nanother\t1\n", "single label"),
        ("words\tlabel\na\t1\nb\t0\n", "column not found"),
        ("sentence\tlabel\nfine film\t1\n\t0\nbad film\t0\n", "1 row(s) with an empty 'sentence' cell (rows [1]"),
    ],
)
def test_malformed_data_files(tmp_path: Path, content: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "train.tsv"
    train.write_text(content)
    message = run_cli(["sweep", "data=sst2", f"data.train_path={train}"], capsys)
    assert expected in message and "data." in message
    assert str(train) in message or expected == "column not found"


@pytest.mark.parametrize(("content", "expected"), [(b"", "file is empty"), (b"\n\n  \n", "no text in"), (b"ok \xff\xfe\n", "not valid UTF-8")])
def test_malformed_text_files_for_language_modelling(tmp_path: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "corpus.txt"
    text.write_bytes(content)
    message = run_cli(["sweep", "--config-name", "shakespeare_gpt2", f"data.train_path={text}"], capsys)
    assert expected in message and "data.train_path" in message, message


def test_invalid_utf8_is_reported_with_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "train.tsv"
    train.write_bytes(b"sentence\tlabel\n\xff\xfe broken \x80\t1\nok\t0\n")
    message = run_cli(["sweep", "data=sst2", f"data.train_path={train}"], capsys)
    assert "data.train_path" in message and str(train) in message


def test_console_script_prints_no_traceback() -> None:
    hpo = Path(sys.executable).parent / "hpo"
    proc = subprocess.run([str(hpo), "sweep", "searcher=bayes"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "searcher/bayes" in proc.stderr and "optuna" in proc.stderr
    assert SST2.is_dir()


def test_a_config_error_survives_pickling_as_a_trial_error_does() -> None:
    # Ray pickles a trial's exception to the driver; the default reduce called ConfigError(text) and failed
    error = ConfigError("model.lora.target_modules", "not in the model", value=["q_proj"], choices=["query", "value"])
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and (again.key, again.value, again.choices) == (error.key, error.value, error.choices)
