"""The W&B run of each trial: Ray Tune's W&B logger, with the trial's full config in the run and,
for chat trials, each evaluation's generated replies as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.air.integrations.wandb import WandbLoggerCallback, _QueueItem, _WandbLoggingActor
from ray.tune.result import TRAINING_ITERATION

from hpo.layout import GENERATIONS_FILE
from hpo.params import apply_params, run_params

GENERATIONS_KEY = "eval/generations"  # the W&B table of a chat evaluation's prompts, references and replies


class _FlushedLoggingActor(_WandbLoggingActor):
    """Ray's W&B logging actor whose ``run()`` returns only once W&B's core process has written the run to disk.

    ``wandb.finish()`` returns before W&B's core process has flushed an offline run file: a sweep's last
    trial, read right after the sweep, has held a run file without a single record. ``wandb.teardown()``
    waits for the core process to finish; Ray's callback waits for ``run()`` at the experiment's end, so
    every trial's run is whole when the sweep returns.
    """

    def run(self) -> None:
        super().run()
        self._wandb.teardown()


class TrialRunsCallback(WandbLoggerCallback):
    """Ray's W&B logger with each run's config being the trial's full resolved config.

    Ray's callback logs only the sampled values as the run config; users comparing runs in W&B
    also want the model, data and fixed settings, with the sampled values applied in place.
    """

    _logger_actor_cls = _FlushedLoggingActor  # Ray's hook for its logging actor's class

    def __init__(self, base_config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_config = base_config

    def setup(self, *args: Any, **kwargs: Any) -> None:
        # Ray insists on an API key even for offline runs; offline needs none.
        if self.kwargs.get("mode") in ("offline", "disabled"):
            return
        super().setup(*args, **kwargs)

    def _start_logging_actor(self, trial: Any, exclude_results: list[str], **wandb_init_kwargs: Any) -> None:
        config = apply_params(self.base_config, run_params(trial.config))
        config["trial_id"] = trial.trial_id
        config["params"] = dict(trial.config)
        wandb_init_kwargs["config"] = config
        super()._start_logging_actor(trial, exclude_results, **wandb_init_kwargs)

    def _cleanup_logging_actor(self, trial: Any) -> None:
        """Let a finished logging actor exit on its own instead of Ray's ``ray.kill``: killing it right after
        ``wandb.finish()`` returned also kills W&B's core process, which exits with its parent and can still be
        writing the run (seen under load: an offline run file with no records). Dropping the last handle ends a
        non-detached actor gracefully, its exit hooks and W&B's flush included."""
        del self._trial_queues[trial]
        del self._trial_logging_futures[trial]
        del self._trial_logging_actors[trial]

    def log_trial_save(self, trial: Any) -> None:
        """Ray's checkpoint upload (when asked), then the checkpoint's generated replies as a W&B
        Table, logged at the evaluation's step: W&B's own view for comparing generations across trials."""
        super().log_trial_save(trial)
        checkpoint = trial.checkpoint
        generations = Path(checkpoint.path) / GENERATIONS_FILE if checkpoint is not None else None
        if generations is None or not generations.is_file() or trial not in self._trial_queues:
            return
        import wandb  # the logging actor imports it anyway; the driver only where chat trials log to W&B

        rows = json.loads(generations.read_text())
        table = wandb.Table(columns=["prompt", "reference", "reply"], data=[[r["prompt"], r["reference"], r["reply"]] for r in rows])
        step = (trial.last_result or {}).get(TRAINING_ITERATION)
        self._trial_queues[trial].put((_QueueItem.RESULT, {TRAINING_ITERATION: step, GENERATIONS_KEY: table}))

