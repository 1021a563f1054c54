"""The runs of ``hpo confirm`` (``<sweep>/confirm/``) summarised: grouped by the sweep trial whose values
they retrained, ranked by their mean over the seeds."""

from __future__ import annotations

import numpy as np

from hpo.layout import CONFIRM_DIR
from hpo.params import CONFIRM_CANDIDATE, CONFIRM_SEED
from hpo.search.results.confirmation import Confirmation, Confirmed, bootstrap_interval
from hpo.search.results.records import SweepResults, collect_experiment


def summarise_confirmation(results: SweepResults) -> Confirmation | None:
    """Group the confirm runs (``confirm/``) by the sweep trial whose values they retrained, and rank
    those by their mean; None when ``hpo confirm`` has not run."""
    directory = results.sweep_dir / CONFIRM_DIR
    if not directory.is_dir():
        return None
    metric, mode = results.metric, results.mode
    values: dict[str, list[float]] = {}
    seeds: set[int] = set()
    for record in collect_experiment(directory, metric, mode):
        if record.best is None:
            continue
        values.setdefault(record.params[CONFIRM_CANDIDATE]["trial"], []).append(float(record.best[metric]))
        seeds.add(int(record.params[CONFIRM_SEED]))
    confirmed = []
    for trial_id, runs in values.items():
        low, high = bootstrap_interval(runs)
        confirmed.append(Confirmed(trial_id, runs, float(np.mean(runs)), low, high))
    ranked = sorted(confirmed, key=lambda c: c.mean, reverse=(mode == "max"))
    return Confirmation(metric, mode, sorted(seeds), ranked)
