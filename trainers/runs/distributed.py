"""Data-parallel trials: one Tune trial trains on several Ray Train workers with the same sampled values.

Ray 2.60 runs Ray Train V2, where a ``TorchTrainer`` is no longer handed to ``tune.Tuner``: the
Tune trial is a small driver that launches the ``TorchTrainer`` and passes its reports on to Tune
(Ray's "Hyperparameter Tuning with Ray Tune" guide). So the searcher, the scheduler, the metric
and the sweep's checkpoints stay exactly as for single-process trials: every rank runs the same
:func:`hpo.trainers.runs.fine_tune.fine_tune` with the trial's config, the model wrapped in DDP
(``ray.train.torch.prepare_model``; gloo on CPUs, nccl on GPUs) and each rank training on its own
share of the length-grouped batches. Ranks evaluate the same model on the same rows, so their
metrics agree; rank 0's metrics and checkpoint are the ones Tune sees.
"""

from __future__ import annotations

import posixpath
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ray
import torch
from ray import train, tune
from ray.train import UserCallback
from ray.train._internal.session import get_session
from ray.train.torch import TorchConfig, TorchTrainer, prepare_model
from ray.util.queue import Queue
from torch.utils.data import Sampler

from hpo.trainers.engine.checkpoint import ResumeState, Snapshot, save_checkpoint
from hpo.trainers.runs.fine_tune import fine_tune
from hpo.trainers.runs.memory import resident_memory_mb

_DONE = "__hpo_train_done__"


@dataclass
class DataParallel:
    """The loop's hook for one rank of a data-parallel run (``fine_tune(..., distributed=...)``)."""

    rank: int
    world_size: int

    def batches(self, sampler: Sampler[int], batch_size: int) -> ShardedBatches:
        """This rank's batches of the sampler's order (a ``batch_sampler`` for the DataLoader)."""
        return ShardedBatches(sampler, batch_size, self.rank, self.world_size)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around the (already placed) model: gradients are averaged over the ranks each optimizer step."""
        return prepare_model(model, move_to_device=False)

    @property
    def metrics(self) -> dict[str, float]:
        """Reported with every evaluation, so a result says how many ranks trained it."""
        return {"train/world_size": self.world_size, "train/rank": self.rank}


class ShardedBatches(Sampler[list[int]]):
    """Whole batches of a (length-grouped) sampler dealt out to the ranks in turn.

    Every rank draws the same order (same seeded generator), cuts it into batches and keeps
    batches ``rank, rank + world, ...``; batches that share a length stay together, as on one
    process. Ranks must take the same number of steps (DDP's all-reduce waits for each), so the
    last round is filled up from the first batches, as ``DistributedSampler`` pads.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, rank: int, world_size: int) -> None:
        self.sampler, self.batch_size, self.rank, self.world_size = sampler, batch_size, rank, world_size

    def __len__(self) -> int:
        total = -(-len(self.sampler) // self.batch_size)  # type: ignore[arg-type]
        return -(-total // self.world_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches += batches[: len(self) * self.world_size - len(batches)]
        return iter(batches[self.rank :: self.world_size])


def run_data_parallel(cfg: dict[str, Any], checkpoint: Any | None) -> None:
    """The Tune trial of a data-parallel sweep: run the ``TorchTrainer`` and report its evaluations to Tune.

    Args:
        cfg: the trial's config (sampled values applied).
        checkpoint: the trial's latest Tune checkpoint when Ray restarts it (retry or resume);
            every rank continues from it.

    Raises:
        ray.train.TrainingFailedError: a rank failed (its error, e.g. ``NonFiniteLossError``, is in the message).
    """
    resources = cfg["resources"]
    gpus = float(resources["gpus_per_trial"])
    per_worker = {"CPU": float(resources["cpus_per_trial"]), **({"GPU": gpus} if gpus else {})}
    storage = get_session().storage  # the Tune trial's storage: local folder, shared file system or URI alike
    reports: Queue = Queue(actor_options={"num_cpus": 0})
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"cfg": cfg, "checkpoint": checkpoint},
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=train.ScalingConfig(
            num_workers=int(resources["workers_per_trial"]), use_gpu=bool(gpus), resources_per_worker=per_worker
        ),
        run_config=train.RunConfig(
            name=tune.get_context().get_trial_name(),
            storage_path=posixpath.join(posixpath.dirname(storage.experiment_fs_path), "train-runs"),
            storage_filesystem=storage.storage_filesystem,
            callbacks=[_ForwardToTune(reports)],
            checkpoint_config=train.CheckpointConfig(num_to_keep=1),
            failure_config=train.FailureConfig(max_failures=0),  # Tune's retries (sweep.max_failures) restart the trial
        ),
    )
    errors: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # re-raised in the trial below
            errors.append(exc)
        finally:
            reports.put((_DONE, None))

    threading.Thread(target=fit, daemon=True, name="hpo-torch-trainer").start()
    while True:
        metrics, persisted = reports.get()
        if metrics == _DONE:
            break
        tune.report(metrics, checkpoint=persisted)
    if errors:
        raise errors[0]


def _forward_metrics(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {**metrics[0], "train/ranks_reported": len(metrics)}


class _ForwardToTune(UserCallback):
    """Ray Train callback (runs in the Train controller): each report's rank-0 metrics and persisted
    checkpoint go through a Ray queue to the Tune trial, which reports them with the checkpoint
    (Ray's own ``TuneReportCallback`` passes the checkpoint's path only, so Tune would keep none)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        self.queue.put((_forward_metrics(metrics), checkpoint))


def _worker_loop(config: dict[str, Any]) -> None:
    """One rank: ``fine_tune`` with DDP, every rank reporting each evaluation, rank 0 with the checkpoint."""
    cfg, checkpoint = config["cfg"], config["checkpoint"]
    context = train.get_context()
    distributed = DataParallel(context.get_world_rank(), context.get_world_size())
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            resume = ResumeState.load(directory)

    def report(metrics: dict[str, float], snapshot: Snapshot) -> None:
        metrics = {**metrics, **distributed.metrics, "node_id": ray.get_runtime_context().get_node_id(),
                   "sys/rss_mb": resident_memory_mb()}
        if distributed.rank != 0:
            train.report(metrics, checkpoint=None)
            return
        with tempfile.TemporaryDirectory(prefix="hpo-ckpt-") as directory:
            save_checkpoint(directory, snapshot, metrics, cfg)
            train.report(metrics, checkpoint=train.Checkpoint.from_directory(directory))

    fine_tune(cfg, report, num_threads=cfg["resources"]["cpus_per_trial"], resume=resume, distributed=distributed)
