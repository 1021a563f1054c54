"""YAML search spaces translate exactly to Ray Tune domains and Optuna distributions."""

from __future__ import annotations

import optuna
import pytest
from ray.tune.search.sample import Categorical, Float, Integer

from hpo.errors import ConfigError
from hpo.search.algorithms.space import grid_size, parse_space, to_grid, to_optuna, to_ray

SPACE = {
    "trainer": {
        "learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
        "warmup_ratio": {"type": "uniform", "low": 0.0, "high": 0.2},
        "batch_size": {"type": "choice", "values": [8, 16, 32]},
        "epochs": {"type": "int", "low": 1, "high": 4},
        "max_seq_length": {"type": "int", "low": 32, "high": 128, "step": 32},
        "weight_decay": {"type": "quniform", "low": 0.0, "high": 0.1, "q": 0.01},
        "seed": {"type": "grid", "values": [1, 2]},
    }
}


def params():
    return {p.key: p for p in parse_space(SPACE)}


def test_parse_flattens_to_dotted_keys() -> None:
    assert set(params()) == {f"trainer.{k}" for k in SPACE["trainer"]}


def test_ray_translation() -> None:
    space = to_ray(list(params().values()))
    lr = space["trainer.learning_rate"]
    assert isinstance(lr, Float) and (lr.lower, lr.upper) == (1e-5, 1e-3)
    assert type(lr.get_sampler()).__name__.endswith("LogUniform")
    wu = space["trainer.warmup_ratio"]
    assert isinstance(wu, Float) and type(wu.get_sampler()).__name__.endswith("_Uniform")
    bs = space["trainer.batch_size"]
    assert isinstance(bs, Categorical) and bs.categories == [8, 16, 32]
    epochs = space["trainer.epochs"]
    assert isinstance(epochs, Integer) and (epochs.lower, epochs.upper) == (1, 5)  # Ray's high is exclusive
    seq = space["trainer.max_seq_length"]
    assert isinstance(seq, Integer) and seq.sampler.q == 32 and (seq.lower, seq.upper) == (32, 128)
    wd = space["trainer.weight_decay"]
    assert isinstance(wd, Float) and wd.sampler.q == 0.01
    assert space["trainer.seed"] == {"grid_search": [1, 2]}
    # sampled values respect the bounds and quantisation
    for _ in range(50):
        assert seq.sample() in (32, 64, 96, 128)
        assert 1 <= epochs.sample() <= 4
        assert 1e-5 <= lr.sample() <= 1e-3
        value = wd.sample()
        assert 0.0 <= value <= 0.1 and abs(value / 0.01 - round(value / 0.01)) < 1e-6


def test_optuna_translation() -> None:
    d = to_optuna(list(params().values()))
    assert d["trainer.learning_rate"] == optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
    assert d["trainer.warmup_ratio"] == optuna.distributions.FloatDistribution(0.0, 0.2)
    assert d["trainer.batch_size"] == optuna.distributions.CategoricalDistribution([8, 16, 32])
    assert d["trainer.epochs"] == optuna.distributions.IntDistribution(1, 4)
    assert d["trainer.max_seq_length"] == optuna.distributions.IntDistribution(32, 128, step=32)
    assert d["trainer.weight_decay"] == optuna.distributions.FloatDistribution(0.0, 0.1, step=0.01)
    assert d["trainer.seed"] == optuna.distributions.CategoricalDistribution([1, 2])


def test_optuna_samples_from_translated_space() -> None:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2))
    dists = to_optuna(list(params().values()))
    for _ in range(5):
        trial = study.ask(dists)
        assert trial.params["trainer.max_seq_length"] in (32, 64, 96, 128)
        study.tell(trial, trial.params["trainer.learning_rate"])


def test_grid_covers_discrete_values_and_int_ranges() -> None:
    grid_params = [params()[k] for k in ("trainer.batch_size", "trainer.epochs", "trainer.seed")]
    grid = to_grid(grid_params)
    assert grid["trainer.batch_size"] == {"grid_search": [8, 16, 32]}
    assert grid["trainer.epochs"] == {"grid_search": [1, 2, 3, 4]}
    assert grid_size(grid_params) == 3 * 4 * 2


def test_grid_rejects_continuous_distributions() -> None:
    with pytest.raises(ConfigError, match=r"search_space.trainer.learning_rate.type.*grid, choice"):
        to_grid(list(params().values()))


@pytest.mark.parametrize(
    ("leaf", "pattern"),
    [
        ({"type": "uniform", "low": 0.5, "high": 0.1}, r"learning_rate: low must be below high"),
        ({"type": "loguniform", "low": 0.0, "high": 0.1}, r"learning_rate.low: a log-scaled range needs bounds > 0"),
        ({"type": "loguniform", "low": -1, "high": 0.1}, r"bounds > 0"),
        ({"type": "normal", "low": 0, "high": 1}, r"learning_rate.type: unknown distribution.*Valid choices: choice, grid"),
        ({"type": "uniform", "low": 0}, r"learning_rate.high: required"),
        ({"type": "choice", "values": []}, r"values: must be a non-empty list"),
        ({"type": "uniform", "low": "a", "high": 1}, r"low: must be a finite number"),
        ({"type": "int", "low": 1.5, "high": 3}, r"whole numbers"),
        ({"type": "quniform", "low": 0, "high": 1, "q": 0}, r"q|step"),
        ({"type": "uniform", "low": 0, "high": 1, "foo": 1}, r"unexpected field"),
    ],
)
def test_impossible_ranges_are_rejected_naming_the_key(leaf: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        parse_space({"trainer": {"learning_rate": leaf}})
    assert "search_space.trainer.learning_rate" in str(info.value)
