"""The engine's optimizer steps under DDP, and the training state read back from every shape it was saved in."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from hpo.trainers.engine.engine import Engine
from hpo.trainers.engine.faults import NonFiniteLossError
from hpo.trainers.engine.state import TrainingState

MICRO_BATCHES = 4


@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    """A real gloo process group of one rank in this process: DDP's reducer and comm hooks run as on many."""
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def batches() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [{"x": torch.randn(3, 4, generator=generator), "y": torch.randn(3, 1, generator=generator)} for _ in range(MICRO_BATCHES)]


def squared_error(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])


def engine_for(model: torch.nn.Module, forward_model: torch.nn.Module, accumulate: int) -> Engine:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return Engine(model, forward_model, optimizer, scheduler, accumulate=accumulate, max_grad_norm=1.0)


def train(engine: Engine) -> list[bool]:
    return [engine.train_micro_batch(batch, squared_error, index, MICRO_BATCHES)[1] for index, batch in enumerate(batches())]


def test_ddp_with_accumulation_all_reduces_once_per_optimizer_step(process_group: None) -> None:
    model = tiny_model()
    reference = copy.deepcopy(model)
    ddp = DistributedDataParallel(model)
    calls = {"count": 0}

    # unannotated: DDP rejects the string annotations of ``from __future__ import annotations``
    def counting_allreduce(state, bucket):
        calls["count"] += 1
        return allreduce_hook(None, bucket)

    ddp.register_comm_hook(None, counting_allreduce)
    squared_error(ddp, batches()[0]).backward()  # one synchronised backward: how many buckets it all-reduces
    buckets, calls["count"] = calls["count"], 0
    model.zero_grad(set_to_none=True)
    assert buckets >= 1

    stepped = train(engine_for(model, ddp, accumulate=2))
    assert stepped == [False, True, False, True]
    assert calls["count"] == 2 * buckets  # 2 optimizer steps, not 4 micro-batches

    train(engine_for(reference, reference, accumulate=2))  # the same steps without DDP: the same weights
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_a_short_last_group_steps_at_the_end_of_the_epoch() -> None:
    model = tiny_model()
    engine = engine_for(model, model, accumulate=3)
    assert train(engine) == [False, False, True, True]  # groups of 3 and 1
    assert engine.steps == 2


def test_a_non_finite_loss_stops_before_the_optimizer_steps() -> None:
    model = tiny_model()
    engine = engine_for(model, model, accumulate=1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(NonFiniteLossError, match=r"at step 1 \(learning_rate=0.1\)"):
        engine.train_micro_batch(batches()[0], squared_error, 0, MICRO_BATCHES, poison=True)
    assert engine.steps == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_saved_engine_state_restores_the_optimizer_and_the_step() -> None:
    model = tiny_model()
    engine = engine_for(model, model, accumulate=2)
    train(engine)
    state = TrainingState.from_dict(engine.save_state(history=[{"step": 2}]).to_dict())
    resumed = engine_for(tiny_model(), tiny_model(), accumulate=2)
    resumed.restore(state)
    assert resumed.steps == 2 and state.history == [{"step": 2}]
    assert resumed.optimizer.state_dict()["state"].keys() == engine.optimizer.state_dict()["state"].keys()


def test_training_state_reads_the_dicts_of_older_checkpoints() -> None:
    rng = torch.get_rng_state()
    plain = TrainingState.from_dict({
        "optimizer": {"state": {}}, "scheduler": {}, "scaler": None, "epoch_generator_state": rng, "torch_rng_state": rng,
        "step": 6, "best": {"eval/accuracy": 0.5}, "history": [{"step": 3}, {"step": 6}], "early_stopping": None,
        "adapt_metrics": None,
    })
    assert (plain.step, plain.adapt_metrics, plain.cv_folds, len(plain.history)) == (6, {}, None, 2)
    folds = TrainingState.from_dict({"cv_folds": [{"eval/accuracy": 0.5}], "history": [{"step": 1}], "best": {"step": 1}})
    assert folds.cv_folds == [{"eval/accuracy": 0.5}] and folds.optimizer is None and folds.step == 0
    assert set(TrainingState().to_dict()) >= {"optimizer", "scheduler", "scaler", "epoch_generator_state", "torch_rng_state",
                                              "step", "best", "history", "early_stopping", "adapt_metrics", "cv_folds"}


def created_engine(trainer: dict) -> Engine:
    from hpo.trainers.engine.engine import precision_context

    cpu = torch.device("cpu")
    model = tiny_model()
    return Engine.create(model, model, trainer, 10, cpu, precision_context("fp32", cpu))


TRAINER = {"learning_rate": 0.1, "weight_decay": 0.01, "layer_lr_decay": 1.0, "lr_scheduler": "linear", "warmup_ratio": 0.2,
           "gradient_accumulation_steps": 1, "max_grad_norm": 1.0}


def test_retune_takes_new_values_over_a_restored_state_and_is_a_no_op_with_the_same_ones() -> None:
    trained = created_engine(TRAINER)
    for index, batch in enumerate(batches()):
        trained.train_micro_batch(batch, squared_error, index, MICRO_BATCHES)
    state = trained.save_state()
    rates = [group["lr"] for group in trained.optimizer.param_groups]

    same = created_engine(TRAINER)
    same.restore(state)
    same.retune(TRAINER, 10)
    assert [group["lr"] for group in same.optimizer.param_groups] == rates  # bit for bit: a plain resume is unchanged

    perturbed = {**TRAINER, "learning_rate": 0.05, "weight_decay": 0.02, "warmup_ratio": 0.0}
    copied = created_engine(perturbed)
    copied.restore(state)  # the donor's optimizer state brings the donor's rates and decay back
    copied.retune(perturbed, 10)
    step = copied.scheduler.last_epoch
    assert copied.learning_rate == pytest.approx(0.05 * (10 - step) / 10)  # linear decay, no warmup
    assert {group["weight_decay"] for group in copied.optimizer.param_groups} <= {0.0, 0.02}
    assert any(group["weight_decay"] == 0.02 for group in copied.optimizer.param_groups)
