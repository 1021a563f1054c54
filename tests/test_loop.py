"""The trial's training loop outside Ray: evaluation cadence, fixed seeds, the best evaluation."""

from __future__ import annotations

import pytest

from search.compose import compose_config
from search.schema import check, resolve
from trainers.loop import fine_tune

TINY_DEMO = ["model=tiny_bert", "data.num_train=64", "data.num_eval=32", "trainer.batch_size=16", "trainer.learning_rate=1e-3"]


def config(*overrides: str) -> dict:
    cfg = resolve(compose_config("demo", [*TINY_DEMO, *overrides]))
    check(cfg)
    return cfg


def run(cfg: dict) -> list[dict]:
    seen: list[dict] = []
    fine_tune(cfg, lambda metrics, model, tokenizer: seen.append(metrics), num_threads=1)
    return seen


def test_evaluates_once_per_epoch_by_default() -> None:
    history = run(config("trainer.epochs=2"))
    assert [h["epoch"] for h in history] == [1.0, 2.0]
    assert all({"eval/accuracy", "eval/f1", "eval/precision", "eval/recall", "eval/loss", "train/loss"} <= set(h) for h in history)


def test_evaluates_every_n_steps() -> None:
    history = run(config("trainer.epochs=2", "trainer.eval_every_steps=3"))  # 4 steps per epoch, 8 in all
    assert [h["step"] for h in history] == [3, 6, 8]
    assert history[-1]["evaluations_planned"] == 3


def test_fixed_seeds_reproduce_the_run() -> None:
    first, second = run(config("trainer.epochs=1")), run(config("trainer.epochs=1"))
    assert first[0]["eval/loss"] == pytest.approx(second[0]["eval/loss"], rel=1e-6)
    third = run(config("trainer.epochs=1", "trainer.seed=7"))
    assert third[0]["eval/loss"] != pytest.approx(first[0]["eval/loss"], rel=1e-6)
