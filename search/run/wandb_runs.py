"""The W&B run of each trial: Ray Tune's W&B logger, with the trial's full config in the run."""

from __future__ import annotations

from typing import Any

from ray.air.integrations.wandb import WandbLoggerCallback

from hpo.params import apply_params, run_params


class TrialRunsCallback(WandbLoggerCallback):
    """Ray's W&B logger with each run's config being the trial's full resolved config.

    Ray's callback logs only the sampled values as the run config; users comparing runs in W&B
    also want the model, data and fixed settings, with the sampled values applied in place.
    """

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
