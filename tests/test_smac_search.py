"""The SMAC3 searcher's adapter without Ray: hpo's spaces in ConfigSpace and back, SMAC's model
steering proposals, and a saved state that a resumed sweep rebuilds SMAC from."""

from __future__ import annotations

import math
from pathlib import Path

from hpo.search.algorithms.smac_search import SMACSearch, config_space
from hpo.search.algorithms.space import parse_space

SPACE = parse_space({"trainer": {
    "learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
    "batch_size": {"type": "choice", "values": [8, 16, None]},
    "warmup_ratio": {"type": "quniform", "low": 0.0, "high": 0.3, "q": 0.1},
    "epochs": {"type": "int", "low": 1, "high": 4},
    "max_seq_length": {"type": "int", "low": 16, "high": 256, "log": True},
}})


def _score(params: dict) -> float:
    """Peaks at a learning rate of 1e-3, whatever the other keys."""
    return -abs(math.log10(params["trainer.learning_rate"]) + 3)


def _run(searcher: SMACSearch, trials: range, metric: str = "acc") -> list[dict]:
    proposed = []
    for i in trials:
        params = searcher.suggest(str(i))
        proposed.append(params)
        searcher.on_trial_result(str(i), {metric: _score(params) - 1, "training_iteration": 1})
        searcher.on_trial_complete(str(i), {metric: _score(params), "training_iteration": 2})
    return proposed


def test_every_proposal_is_a_value_of_the_hpo_space() -> None:
    assert len(list(config_space(SPACE, seed=0).values())) == len(SPACE)
    for params in _run(SMACSearch(SPACE, "acc", "max", seed=0, n_initial=3), range(4)):
        assert set(params) == {p.key for p in SPACE}
        assert 1e-5 <= params["trainer.learning_rate"] <= 1e-1
        assert params["trainer.batch_size"] in (8, 16, None)
        assert params["trainer.warmup_ratio"] in (0.0, 0.1, 0.2, 0.3)
        assert type(params["trainer.epochs"]) is int and 1 <= params["trainer.epochs"] <= 4
        assert type(params["trainer.max_seq_length"]) is int and 16 <= params["trainer.max_seq_length"] <= 256


def test_the_forest_proposes_near_the_best_results() -> None:
    searcher = SMACSearch(SPACE, "loss", "min", seed=1, n_initial=4)  # "max" turns to cost in the extend test
    for i in range(10):
        params = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": -_score(params), "training_iteration": 1})
    told = [cost for _, cost, _ in searcher._told]
    # SMAC minimises cost: the best of the model's proposals beats the best of its random initial design
    assert min(told[4:]) < min(told[:4])
    assert min(told) < 0.3  # within half a decade of the best learning rate


def test_a_restored_searcher_keeps_its_results_and_proposes_nothing_twice(tmp_path: Path) -> None:
    searcher = SMACSearch(SPACE, "acc", "max", seed=2, n_initial=3)
    first = _run(searcher, range(4))
    pending = searcher.suggest("running")  # a trial the driver was running when it died
    searcher.save(str(tmp_path / "state.pkl"))

    restored = SMACSearch(SPACE, "acc", "max", seed=2, n_initial=3)
    restored.restore(str(tmp_path / "state.pkl"))
    assert [p for p, _, _ in restored._told] == first
    restored.on_trial_complete("running", {"acc": _score(pending), "training_iteration": 2})
    assert len(restored._told) == 5  # the resumed trial's result reaches the rebuilt SMAC
    later = _run(restored, range(10, 12))
    keys = [tuple(sorted(p.items(), key=lambda kv: kv[0])) for p in [*first, pending, *later]]
    assert len(set(keys)) == len(keys)


def test_a_failed_trial_tells_smac_nothing_and_extend_tells_it_earlier_trials() -> None:
    searcher = SMACSearch(SPACE, "acc", "max", seed=3, n_initial=2)
    searcher.suggest("crashed")
    searcher.on_trial_complete("crashed", None, error=True)
    assert searcher._told == []
    earlier = {"trainer.learning_rate": 1e-3, "trainer.batch_size": None, "trainer.warmup_ratio": 0.1,
               "trainer.epochs": 2, "trainer.max_seq_length": 64}
    searcher.add_evaluated_point(earlier, 0.9)
    assert searcher._told == [(earlier, -0.9, 1.0)]
    assert searcher.suggest("next") != earlier
