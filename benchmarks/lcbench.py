"""The YAHPO Gym LCBench surrogate as an hpo trainable, with an epoch budget shared by all trials.

The surrogate predicts a real learning curve (34 OpenML tasks, epochs 1..52) in about 0.2 ms, so a
search method can be run over many seeds through hpo's own Ray Tune machinery: the trainable
below reports once per epoch exactly like hpo's fine-tuning trial does, and ASHA stops it the same
way. The budget is counted in epochs across all trials of one run, in a file under the sweep
folder, because trials run in separate Ray worker processes.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpo.paths import PROJECT_ROOT

DATA_DIR = (PROJECT_ROOT / ".." / "shared" / "bench" / "yahpo_lcbench").resolve()
METRIC = "eval/val_accuracy"
MAX_EPOCHS = 52  # LCBench's fidelity: every learning curve has 52 epochs
PREFIX = "lcbench."
# LCBench's defaults (YAHPO's config space), for the hyperparameters a grid leaves out.
DEFAULTS: dict[str, Any] = {
    "batch_size": 91,
    "learning_rate": 0.0031622777,
    "max_dropout": 0.5,
    "max_units": 256,
    "momentum": 0.545,
    "num_layers": 3,
    "weight_decay": 0.050005,
}
INT_KEYS = ("batch_size", "max_units", "num_layers")
COUNTER_FILE = "epochs_spent"
LOG_FILE = "evaluations.jsonl"
EPOCH_FILE = "epoch"  # in a surrogate trial's checkpoint: the epochs it has reported

_BENCH: dict[str, Any] = {}  # task id -> BenchmarkSet, one per process (Ray workers included)


def _patch_configspace() -> None:
    """Let yahpo-gym 1.0.2 run on ConfigSpace 1.x.

    yahpo-gym pins ``numpy<2`` and ``ConfigSpace<=0.6.1``, which would break pyarrow (datasets)
    in hpo's environment; ConfigSpace 1.x keeps hyperparameters sorted itself and only lacks the
    private ``_sort_hyperparameters`` that yahpo calls before encoding a configuration.
    """
    import ConfigSpace

    if not hasattr(ConfigSpace.ConfigurationSpace, "_sort_hyperparameters"):
        ConfigSpace.ConfigurationSpace._sort_hyperparameters = lambda self: None


def benchmark(task: str) -> Any:
    """The surrogate for one LCBench task, loaded once per process (ONNX session kept open)."""
    if task not in _BENCH:
        _patch_configspace()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from yahpo_gym import benchmark_set, local_config

            local_config.init_config()
            local_config.set_data_path(str(DATA_DIR))
            bench = benchmark_set.BenchmarkSet("lcbench", active_session=True, check=False, multithread=False)
        bench.set_instance(task)
        _BENCH[task] = bench
    return _BENCH[task]


def tasks() -> list[str]:
    """The 34 LCBench task ids (OpenML), in YAHPO's order."""
    return list(benchmark("3945").instances)


def to_surrogate(params: dict[str, Any], task: str) -> dict[str, Any]:
    """hpo's flat sampled values (``lcbench.learning_rate``) to one surrogate configuration."""
    config = dict(DEFAULTS)
    config.update({k.removeprefix(PREFIX): v for k, v in params.items() if k.startswith(PREFIX)})
    for key in INT_KEYS:
        config[key] = int(round(config[key]))
    config["OpenML_task_id"] = task
    return config


def learning_curve(params: dict[str, Any], task: str) -> list[float]:
    """Validation accuracy (%) after each of the 52 epochs, in one batched surrogate call."""
    config = to_surrogate(params, task)
    rows = benchmark(task).objective_function([{**config, "epoch": e} for e in range(1, MAX_EPOCHS + 1)])
    return [float(r["val_accuracy"]) for r in rows]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def epochs_spent(run_dir: str | Path) -> int:
    """Epochs all trials of a run have evaluated so far."""
    path = Path(run_dir) / COUNTER_FILE
    return int(path.read_text() or 0) if path.is_file() else 0


def claim_epoch(run_dir: str | Path, budget: int, first: bool) -> bool:
    """Take one epoch from the run's budget; a trial's first epoch is always granted.

    Granting the first epoch keeps every started trial valid for Ray Tune (a trial must report
    its metric once); it lets a run overshoot the budget by at most the number of trials started
    just before the budget ran out (``searcher.max_concurrent``). The analysis cuts at the budget.
    """
    path = Path(run_dir) / COUNTER_FILE
    with _locked(path):
        spent = int(path.read_text() or 0) if path.is_file() else 0
        if spent >= budget and not first:
            return False
        path.write_text(str(spent + 1))
        return True


def log_evaluation(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one evaluation to the run's log; its line order is the order epochs were spent."""
    path = Path(run_dir) / LOG_FILE
    with _locked(path), open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def read_evaluations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's evaluations in the order they were spent."""
    path = Path(run_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def surrogate_trial(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """hpo's trainable for the surrogate: one ``tune.report`` per epoch, like a fine-tuning trial.

    ``base_config["benchmark"]`` holds the task, the epoch budget and the run folder. With
    ``checkpoint`` set (schedulers that pause trials and resume them later, as BOHB's HyperBand
    does), each report carries the epoch reached, as hpo's fine-tuning trial checkpoints every
    evaluation: a resumed trial goes on from there instead of spending its first epochs again.
    """
    from ray import tune

    bench = base_config["benchmark"]
    curve = learning_curve(params, bench["task"])
    trial_id = tune.get_context().get_trial_id()
    done = _resumed_epoch(tune.get_checkpoint())
    for epoch, accuracy in enumerate(curve[done:], start=done + 1):
        if not claim_epoch(bench["run_dir"], bench["budget"], first=epoch == 1):
            return
        log_evaluation(bench["run_dir"], {"trial": trial_id, "epoch": epoch, "acc": accuracy})
        metrics = {METRIC: accuracy, "epoch": epoch, "evaluations_planned": MAX_EPOCHS}
        if not bench.get("checkpoint"):
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / EPOCH_FILE).write_text(str(epoch))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _resumed_epoch(checkpoint: Any) -> int:
    """The epochs a resumed trial has already reported (0 for a fresh trial)."""
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as folder:
        return int((Path(folder) / EPOCH_FILE).read_text())


def quiet_environment() -> None:
    """Keep yahpo's citation notice and ONNX's threads out of the way of Ray's workers."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
