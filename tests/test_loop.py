"""The trial's training loop outside Ray: evaluation cadence, fixed seeds, the best evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hpo.layout import TRAINING_STATE_FILE
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.trainers.engine import faults
from hpo.trainers.engine.checkpoint import ResumeState
from hpo.trainers.runs.fine_tune import fine_tune

TINY_DEMO = ["model=tiny_bert", "data.num_train=64", "data.num_eval=32", "trainer.batch_size=16", "trainer.learning_rate=1e-3"]


def config(*overrides: str) -> dict:
    cfg = resolve(compose_config("demo", [*TINY_DEMO, *overrides]))
    check(cfg)
    return cfg


def run(cfg: dict) -> list[dict]:
    seen: list[dict] = []
    fine_tune(cfg, lambda metrics, snapshot: seen.append(metrics), num_threads=1)
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


# The keys of training_state.pt before TrainingState: a plain dict that checkpoints of older sweeps still hold.
OLDER_PLAIN_KEYS = ("optimizer", "scheduler", "scaler", "epoch_generator_state", "torch_rng_state", "step", "best", "history",
                    "early_stopping", "adapt_metrics")


def as_older_checkpoint(directory: Path, keys: tuple[str, ...]) -> None:
    """Rewrite a checkpoint's training state as the plain dict older versions wrote."""
    state = torch.load(directory / TRAINING_STATE_FILE, weights_only=False)
    torch.save({key: state[key] for key in keys}, directory / TRAINING_STATE_FILE)


@pytest.mark.parametrize(("extra", "older"), [
    ([], False),
    (["trainer.batch_size=8", "trainer.gradient_accumulation_steps=2", "trainer.precision=bf16"], False),
    (["trainer.early_stopping_patience=5"], True),
], ids=["plain", "accumulation-bf16", "older-checkpoint"])
def test_resuming_from_a_checkpoint_continues_exactly(tmp_path: Path, extra: list[str], older: bool) -> None:
    cfg = config("trainer.epochs=3", "trainer.eval_every_steps=3", *extra)  # checkpoints mid-epoch too
    straight = run(cfg)
    saved: list = []

    def keep_second(metrics, snapshot) -> None:
        if len(saved) == 0 and metrics["step"] == 6:
            snapshot.save(tmp_path)
            saved.append(metrics)

    fine_tune(cfg, keep_second, num_threads=1)
    if older:
        as_older_checkpoint(tmp_path, OLDER_PLAIN_KEYS)
    resumed: list[dict] = []
    fine_tune(cfg, lambda m, s: resumed.append(m), num_threads=1, resume=ResumeState.load(tmp_path))
    assert [m["step"] for m in resumed] == [m["step"] for m in straight if m["step"] > 6]
    for a, b in zip(resumed, straight[-len(resumed):], strict=True):
        assert a["eval/loss"] == pytest.approx(b["eval/loss"], rel=1e-5)


@pytest.mark.parametrize(("fault", "error"), [("exception", "InjectedFaultError"), ("nan", "NonFiniteLossError"), ("oom", "TrialOutOfMemoryError")])
def test_injected_faults_raise_their_reason(fault: str, error: str) -> None:
    with pytest.raises(getattr(faults, error), match=r"step 2"):
        run(config("trainer.epochs=1", f"trainer.inject_fault={fault}", "trainer.inject_fault_at_step=2"))
