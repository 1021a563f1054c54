"""Ray Tune callbacks for the sweep's side concerns: the progress shown to the user and W&B runs."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from hpo.params import run_params
from hpo.ranking import is_better
from hpo.search.config.logger import wandb_destination
from hpo.search.run.budgets import SweepBudget
from hpo.trial_status import INFEASIBLE, error_summary, outcome


class ProgressCallback(Callback):
    """One line per evaluation and per trial end, with the counts and the best so far.

    Replaces Ray's status tables with what a user watching a sweep asks: how many trials are
    running, finished, stopped early or failed, and what the best result is so far.
    """

    def __init__(self, metric: str, mode: str, out: TextIO | None = None, budget: SweepBudget | None = None) -> None:
        # out=None: sys.stdout as it is when a line is printed (Ray pickles the callbacks with the
        # Tuner, and a stream other than the current sys.stdout does not pickle)
        self.metric, self.mode, self._out, self.budget = metric, mode, out, budget
        self.started = time.monotonic()
        self.best: tuple[float, str] | None = None
        self.ended = {"finished": 0, "stopped": 0, "failed": 0, "infeasible": 0}
        self.started_ids: set[str] = set()

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def _print(self, text: str, trials: list, ending: Any = None, starting: Any = None) -> None:
        """``ending``/``starting``: the trial this line ends or starts, whose state Ray changes after the hook.

        Running and paused trials are counted from Ray's trial states: HyperBand and PBT pause and
        restart trials, so counting starts and ends would drift.
        """
        elapsed = time.monotonic() - self.started
        best = f"best {self.metric}={self.best[0]:.4f} ({self.best[1]})" if self.best else "best: none yet"
        live = [t for t in trials if t is not ending]
        running = sum(t.status == "RUNNING" or t is starting for t in live)
        paused = sum(t.status == "PAUSED" and t is not starting for t in live)
        counts = f"running {running}" + (f" paused {paused}" if paused else "") + "".join(f" {k} {v}" for k, v in self.ended.items() if v or k != "infeasible")
        spent = f" | {self.budget.describe()}" if self.budget else ""
        print(f"[{elapsed:6.0f}s] {text:<58} | {counts} | {best}{spent}", file=self.out, flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        verb = "continued" if trial.trial_id in self.started_ids else "started"  # after a pause, or a copy (PBT)
        self.started_ids.add(trial.trial_id)
        params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in run_params(trial.config).items())
        self._print(f"{trial.trial_id} {verb}: {params}"[:58], trials, starting=trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get(self.metric)
        if value is None:
            return
        if is_better(value, self.best[0] if self.best else None, self.mode):
            self.best = (value, trial.trial_id)
        self._print(f"{trial.trial_id} eval {result.get('training_iteration')}: {self.metric}={value:.4f}", trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        ended = outcome("TERMINATED", trial.last_result)  # Ray sets the status after this call
        self.ended[ended] += 1
        self._print(f"{trial.trial_id} {ended}", trials, ending=trial)
        if ended == "infeasible":
            print(f"         {trial.trial_id}: {trial.last_result[INFEASIBLE]}", file=self.out, flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended["failed"] += 1
        self._print(f"{trial.trial_id} failed", trials, ending=trial)
        print(f"         {trial.trial_id}: {error_summary(trial.error_file)}", file=self.out, flush=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.budget and self.budget.reason:
            print(f"Sweep stopped early, {self.budget.reason}", file=self.out, flush=True)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def build_logger_callbacks(cfg: dict[str, Any], sweep_dir: str) -> list[Callback]:
    """The W&B callback for ``logger=wandb``; none for ``logger=none``. Never writes an API key."""
    logger = cfg["logger"]
    if logger["name"] == "none":
        return []
    from hpo.search.run.wandb_runs import TrialRunsCallback  # imports wandb: only when W&B logs

    return [TrialRunsCallback(base_config=cfg, **wandb_destination(logger), dir=sweep_dir, job_type="trial")]
