"""An epoch budget for a whole Ray Tune run, put around the search algorithm hpo builds.

Equal budgets are counted in epochs, but hpo's searchers count trials (``sweep.num_trials``) and
with ASHA the number of trials a budget buys is not known in advance. Wrapping the search
algorithm (not replacing it) lets every searcher keep suggesting exactly as in a real sweep while
no new trial starts once the run's epochs are spent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.search import SearchAlgorithm, Searcher, SearchGenerator

from benchmarks.lcbench import epochs_spent


class BudgetedSearch(SearchAlgorithm):
    """Delegates to hpo's search algorithm and reports itself finished once the budget is spent."""

    def __init__(self, inner: SearchAlgorithm | Searcher, run_dir: str | Path, budget: int) -> None:
        self.inner = SearchGenerator(inner) if isinstance(inner, Searcher) else inner
        # Ray reads ``.searcher`` to find a ConcurrencyLimiter and size its pending-trial queue.
        self.searcher = getattr(self.inner, "searcher", None)
        self.run_dir, self.budget = Path(run_dir), budget

    def spent(self) -> bool:
        return epochs_spent(self.run_dir) >= self.budget

    @property
    def metric(self) -> str | None:
        return self.inner.metric

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    @property
    def total_samples(self) -> int:
        return self.inner.total_samples

    def add_configurations(self, experiments: Any) -> None:
        self.inner.add_configurations(experiments)

    def next_trial(self) -> Any:
        if self.spent():
            self.inner.set_finished()
            return None
        return self.inner.next_trial()

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def is_finished(self) -> bool:
        return self.inner.is_finished() or self.spent()

    def set_finished(self) -> None:
        self.inner.set_finished()

    def has_checkpoint(self, dirpath: str) -> bool:
        return False  # a benchmark run is never resumed

    def save_to_dir(self, dirpath: str, **kwargs: Any) -> None:
        return None

    def restore_from_dir(self, dirpath: str) -> None:
        return None
