"""The option names the driver checks against are those the trial code implements, and reading
them costs the driver no torch, transformers, scikit-learn, evaluate or wandb import."""

from __future__ import annotations

import json
import subprocess
import sys

from hpo.options import PRECISIONS, TASK_METRICS
from hpo.trainers.engine.engine import AUTOCAST_DTYPES
from hpo.trainers.evaluation.metrics import METRIC_MODULES
from hpo.trainers.tasks.registry import TASKS

HEAVY = ("torch", "transformers", "sklearn", "evaluate", "wandb")


def test_each_task_reports_the_metrics_the_config_check_allows() -> None:
    assert set(TASKS) == set(TASK_METRICS)
    for name, task in TASKS.items():
        assert task.metrics == TASK_METRICS[name]
        for metric in task.metrics:
            assert (METRIC_MODULES / metric / f"{metric}.py").is_file(), metric


def test_every_precision_the_check_allows_has_an_autocast_dtype() -> None:
    assert set(AUTOCAST_DTYPES) == set(PRECISIONS)


def test_the_driver_modules_import_no_training_library() -> None:
    """``hpo --help``, ``hpo export`` and the config checks start without them; the up-front data
    and model check (``check_inputs``) is the sweep driver's one step that loads them."""
    code = (
        "import json, sys\n"
        "import hpo.search.cli, hpo.search.run.sweep, hpo.search.results.export, hpo.search.config.schema, hpo.search.run.callbacks, hpo.search.algorithms.searchers\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_config_check_imports_no_data_library() -> None:
    """The features' own checks (augmentation, domain adaptation) live in modules free of torch and
    datasets, so the driver imports them at the top and runs them for every sweep."""
    code = (
        "import json, sys\n"
        "import hpo.search.config.checks, hpo.search.config.compose\n"
        f"print(json.dumps([m for m in {(*HEAVY, 'datasets')!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
