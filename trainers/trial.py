"""The Ray Tune trainable: one trial of a sweep.

It applies the sampled values to the sweep's resolved config (plain data, passed with
``tune.with_parameters``), fine-tunes, and reports every evaluation with a checkpoint. It
never logs to W&B or decides to stop: the sweep's callbacks and scheduler own those.
"""

from __future__ import annotations

import tempfile
from typing import Any

from ray import tune

from search.params import apply_params
from trainers.checkpoint import save_checkpoint
from trainers.loop import fine_tune


def run_trial(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """Train with ``params`` (dotted keys from the search space) on top of ``base_config``."""
    cfg = apply_params(base_config, params)

    def report(metrics, model, tokenizer) -> None:
        with tempfile.TemporaryDirectory(prefix="hpo-ckpt-") as directory:
            save_checkpoint(directory, model, tokenizer, metrics, cfg)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    fine_tune(cfg, report, num_threads=cfg["resources"]["cpus_per_trial"])
