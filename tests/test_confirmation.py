"""``hpo confirm``'s interval: the 95% percentile bootstrap of a mean over seeds (the end-to-end run is in
tests/test_faults_e2e.py, beside the other commands that add to a finished sweep)."""

from __future__ import annotations

import numpy as np

from hpo.search.results.confirmation import bootstrap_interval


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = [0.61, 0.64, 0.7, 0.58, 0.66]
    low, high = bootstrap_interval(values)
    assert min(values) <= low < np.mean(values) < high <= max(values)
    assert bootstrap_interval(values) == (low, high)
    assert bootstrap_interval([0.5, 0.5]) == (0.5, 0.5)
