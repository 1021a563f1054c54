"""``hpo confirm``'s interval: the 95% percentile bootstrap of a mean over seeds (the end-to-end run is in
tests/test_faults_e2e.py, beside the other commands that add to a finished sweep)."""

from __future__ import annotations

import numpy as np
import pytest
import ray

from hpo.errors import ConfigError
from hpo.search.results.confirmation import bootstrap_interval
from hpo.search.run.confirm import confirm


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = [0.61, 0.64, 0.7, 0.58, 0.66]
    low, high = bootstrap_interval(values)
    assert min(values) <= low < np.mean(values) < high <= max(values)
    assert bootstrap_interval(values) == (low, high)
    assert bootstrap_interval([0.5, 0.5]) == (0.5, 0.5)


def test_one_seed_is_refused_before_ray_starts(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        confirm(tmp_path, [("a1", {"trainer.learning_rate": 1e-4})], seeds=1)
    assert caught.value.key == "--seeds" and not ray.is_initialized()
