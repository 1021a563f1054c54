"""ASHA's ``max_t`` is the most evaluations the longest trial of the space makes.

ASHA counts reports and a trial reports once per evaluation, so with ``trainer.eval_every_steps``
set, or the epochs searched, a ``max_t`` taken from ``trainer.epochs`` cut trials short. These
tests derive it on the driver from real data and check it against the evaluations the training
loop plans for the same trial.
"""

from __future__ import annotations

import math

import pytest

from hpo.errors import ConfigError
from hpo.evaluation_plan import optimizer_steps_per_epoch, planned_evaluations
from hpo.params import apply_params
from hpo.search.algorithms.schedulers import build_scheduler
from hpo.search.algorithms.space import parse_space
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.search.run.longest_trial import longest_trial_evaluations
from hpo.search.run.sweep import prepare
from hpo.trainers.runs.fine_tune import fine_tune

TINY_DEMO = ["model=tiny_bert", "logger=none", "trainer.max_seq_length=32", "data.num_train=100", "data.num_eval=20"]


def test_steps_and_evaluations_follow_the_loops_rules() -> None:
    assert optimizer_steps_per_epoch(100, 8, 1) == 13  # 12 full batches and a short one
    assert optimizer_steps_per_epoch(100, 8, 2) == 7  # the last accumulation group is short
    assert optimizer_steps_per_epoch(100, 8, 1, world_size=2) == 7  # the last round padded
    assert planned_evaluations(13, 3, None) == 3  # once per epoch
    assert planned_evaluations(13, 3, 5) == 8  # steps 5, 10, ..., 35, and the last one (39)
    assert planned_evaluations(13, 3, 13) == 3


def test_longest_trial_takes_every_extreme_of_the_space() -> None:
    cfg = resolve(compose_config("demo", [*TINY_DEMO, "trainer.eval_every_steps=5"]))
    space = {"trainer": {"batch_size": {"type": "choice", "values": [8, 32]}, "epochs": {"type": "int", "low": 1, "high": 3}}}
    counted: list[dict] = []

    def rows(trainer: dict) -> int:
        counted.append(trainer)
        return 100

    longest = longest_trial_evaluations(cfg, parse_space(space), rows)
    assert longest == math.ceil(13 * 3 / 5) == 8  # batch size 8, 3 epochs
    assert len(counted) == 1  # one row count: nothing searched changes the rows


def test_epochs_searched_without_step_evaluation() -> None:
    cfg = resolve(compose_config("demo", TINY_DEMO))
    space = parse_space({"trainer": {"epochs": {"type": "choice", "values": [2, 5, 3]}}})
    assert longest_trial_evaluations(cfg, space, lambda trainer: pytest.fail("no rows needed per epoch")) == 5


def test_a_sweep_with_step_evaluation_sizes_asha_to_the_loop() -> None:
    """Real data and tokenizer on the driver: 100 demo rows, batch sizes searched, evaluation every 4 steps."""
    prepared = prepare("demo", [
        *TINY_DEMO, "scheduler=asha", "trainer.eval_every_steps=4", "trainer.epochs=2",
        "search_space.trainer.batch_size.values=[16,32]", f"sweep.output_dir={'/tmp/hpo-unused'}",
    ])
    expected = planned_evaluations(optimizer_steps_per_epoch(100, 16, 1), 2, 4)  # 7 steps per epoch: 14 / 4 -> 4
    assert prepared.scheduler._max_t == expected == 4
    assert prepared.config["scheduler"]["max_t"] == expected  # recorded in the sweep's config.yaml


def test_an_explicit_max_t_is_kept_and_checked() -> None:
    scheduler = build_scheduler({"name": "asha", "max_t": 6, "grace_period": 1, "reduction_factor": 2})
    assert scheduler._max_t == 6
    with pytest.raises(ConfigError, match="scheduler.max_t"):
        build_scheduler({"name": "asha", "max_t": None, "grace_period": 1, "reduction_factor": 2})


@pytest.mark.parametrize(("max_t", "grace"), [(3, 1), (10, 1), (52, 3), (100, 6)])
def test_a_null_grace_period_is_a_sixteenth_of_max_t_and_recorded(max_t: int, grace: int) -> None:
    # 52 -> 3: the first rung the LCBench benchmark showed best (benchmarks/README.md)
    cfg = {"name": "asha", "max_t": max_t, "grace_period": None, "reduction_factor": 3}
    scheduler = build_scheduler(cfg)
    assert cfg["grace_period"] == grace  # recorded in the sweep's config.yaml
    assert scheduler._brackets[0]._rungs[-1][0] == grace  # Ray's first rung: (milestone, recorded)


def test_the_longest_trial_makes_exactly_max_t_evaluations(tmp_path) -> None:
    """The longest configuration of the space, trained for real: it evaluates ``max_t`` times, so
    ASHA neither cuts it short nor waits on a rung it never reaches."""
    prepared = prepare("demo", [
        *TINY_DEMO, "scheduler=asha", "trainer.eval_every_steps=3", "search_space.trainer.batch_size.values=[32,64]",
        "+search_space.trainer.epochs={type: int, low: 1, high: 2}", f"sweep.output_dir={tmp_path}",
    ])
    longest = apply_params(prepared.config, {"trainer.batch_size": 32, "trainer.epochs": 2})
    evaluations: list[dict] = []
    result = fine_tune(longest, lambda metrics, snapshot: evaluations.append(metrics), num_threads=1)
    assert len(evaluations) == len(result.history) == prepared.scheduler._max_t == 3  # 4 steps an epoch: 3, 6, 8
    assert evaluations[-1]["evaluations_planned"] == prepared.scheduler._max_t
