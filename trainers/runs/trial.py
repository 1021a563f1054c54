"""The Ray Tune trainable: one trial of a sweep.

It applies the sampled values to the sweep's resolved config (plain data, passed with
``tune.with_parameters``), fine-tunes, and reports every evaluation with a checkpoint. It
never logs to W&B or decides to stop: the sweep's callbacks and scheduler own those. When Ray
restarts it (a retry, or ``hpo resume``), it continues from its latest checkpoint. A trial with
``resources.workers_per_trial`` > 1 is data-parallel (:mod:`hpo.trainers.runs.distributed`);
any other runs in this process.
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
from typing import Any

import ray
import torch
from ray import tune

from hpo.params import apply_params, run_params
from hpo.trainers.engine.checkpoint import ResumeState, Snapshot, save_checkpoint
from hpo.trainers.engine.faults import TrialOutOfMemoryError
from hpo.trainers.runs.fine_tune import fine_tune
from hpo.trainers.runs.memory import resident_memory_mb
from hpo.trial_status import INFEASIBLE

# A reused worker (resources.reuse_workers) starts its next trial only once the last trial's
# training thread has ended. Ray waits TUNE_FUNCTION_THREAD_TIMEOUT_S (2 s) for that and fails
# the next trial ("Trainable runner reuse requires reset_config() ...") if the thread is still
# unwinding, which it was on 2 loaded cores (seen in the CLI end-to-end test). The thread ends
# at its next report, so it is waiting, not training: a longer wait costs nothing otherwise.
THREAD_END_TIMEOUT_S = "120"


def run_trial(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """Train with ``params`` (dotted keys from the search space, or a run of ``hpo confirm``: its
    candidate's values and seed, see ``hpo.params.run_params``) on top of ``base_config``."""
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", THREAD_END_TIMEOUT_S)  # read by Ray in this worker
    cfg = apply_params(base_config, run_params(params))
    checkpoint = tune.get_checkpoint()
    if cfg["resources"]["workers_per_trial"] > 1:  # DDP over Ray Train workers, same values on every rank
        # Ray Train (TorchTrainer, its queue and callbacks) is imported only by data-parallel trials
        from hpo.trainers.runs.distributed import run_data_parallel

        return run_data_parallel(cfg, checkpoint)
    return _run_single_process(cfg, checkpoint)


def _run_single_process(cfg: dict[str, Any], checkpoint: tune.Checkpoint | None) -> None:
    """Fine-tune in this worker, continuing from ``checkpoint`` when Ray restarted the trial."""
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            resume = ResumeState.load(directory)
    node_id = ray.get_runtime_context().get_node_id()
    gpus = {"sys/gpu_ids": ",".join(str(i) for i in ray.get_gpu_ids())} if ray.get_gpu_ids() else {}  # what ran where

    def report(metrics: dict[str, float], snapshot: Snapshot) -> None:
        metrics = {**metrics, "node_id": node_id, "sys/rss_mb": resident_memory_mb(), **gpus}
        with tempfile.TemporaryDirectory(prefix="hpo-ckpt-") as directory:
            save_checkpoint(directory, snapshot, metrics, cfg)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    try:
        fine_tune(cfg, report, num_threads=cfg["resources"]["cpus_per_trial"], resume=resume)
    except TrialOutOfMemoryError as exc:
        # Not a crash to retry: these values do not fit. The trial ends with the reason, its metric
        # NaN (Ray requires the key; schedulers skip NaN), and the searcher moves away from them.
        tune.report({cfg["sweep"]["metric"]: math.nan, INFEASIBLE: f"{type(exc).__name__}: {exc}"})
    finally:
        # A reused worker must not carry this trial's tensors into the next one.
        del resume
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
