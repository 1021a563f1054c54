"""The module names of sweep folders written before hpo's packages moved under the ``hpo`` name.

Ray Tune pickles the trainable, the trial-name function, the callbacks and the searcher into a
sweep's experiment state by module name; a folder written when the driver was the top-level
``search`` package and the trial code ``trainers`` names ``search.sweep.trial_name`` and
``trainers.trial.run_trial``. Reading such a folder (export, report, ensemble, resume, extend)
resolves those names to the modules that hold the same objects now. The finder answers only the
old names of hpo's own modules, and only once a command reads a sweep folder's Ray state; it goes
first on ``sys.meta_path``, or Python would load ``search/cli.py`` a second time under its old
name from the folder the aliased ``search`` package points to.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

OLD_PACKAGES = {"search": "hpo.search", "trainers": "hpo.trainers"}
OLD_MODULES = {
    "search.errors": "hpo.errors",
    "search.params": "hpo.params",
    "search.paths": "hpo.paths",
    "trainers.options": "hpo.options",
    "trainers.ranking": "hpo.ranking",
    "search.cli": "hpo.search.cli",
    "search.compose": "hpo.search.config.compose",
    "search.schema": "hpo.search.config.schema",
    "search.space": "hpo.search.algorithms.space",
    "search.searchers": "hpo.search.algorithms.searchers",
    "search.schedulers": "hpo.search.algorithms.schedulers",
    "search.sweep": "hpo.search.run.sweep",
    "search.callbacks": "hpo.search.run.callbacks",
    "search.resume": "hpo.search.run.resume",
    "search.storage": "hpo.search.run.storage",
    "search.wandb_runs": "hpo.search.run.wandb_runs",
    "search.export": "hpo.search.results.export",
    "search.manifest": "hpo.search.results.manifest",
    "search.report": "hpo.search.results.report",
    "search.report_data": "hpo.search.results.report_data",
    "search.report_plots": "hpo.search.results.report_plots",
    "search.ensemble": "hpo.search.results.ensemble",
    "search.wandb_summary": "hpo.search.results.wandb_summary",
    "trainers.data": "hpo.trainers.data.loading",
    "trainers.text_data": "hpo.trainers.data.text",
    "trainers.columns": "hpo.trainers.data.columns",
    "trainers.demo_data": "hpo.trainers.data.demo",
    "trainers.cleaning": "hpo.trainers.data.cleaning",
    "trainers.imbalance": "hpo.trainers.data.imbalance",
    "trainers.augmentation": "hpo.trainers.data.augmentation",
    "trainers.tasks": "hpo.trainers.tasks.registry",
    "trainers.modeling": "hpo.trainers.models.modeling",
    "trainers.optim": "hpo.trainers.models.optim",
    "trainers.domain_adaptation": "hpo.trainers.models.domain_adaptation",
    "trainers.evaluation": "hpo.trainers.evaluation.evaluate",
    "trainers.metrics": "hpo.trainers.evaluation.metrics",
    "trainers.early_stopping": "hpo.trainers.evaluation.early_stopping",
    "trainers.loop": "hpo.trainers.engine.loop",
    "trainers.checkpoint": "hpo.trainers.engine.checkpoint",
    "trainers.trial": "hpo.trainers.runs.trial",
    "trainers.train": "hpo.trainers.runs.train",
    "trainers.cross_validation": "hpo.trainers.runs.cross_validation",
    "trainers.distributed": "hpo.trainers.runs.distributed",
}


class _LegacyNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old name as the module that replaced it (the same module object, not a copy)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = OLD_MODULES.get(fullname) or OLD_PACKAGES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in OLD_PACKAGES)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(OLD_MODULES.get(spec.name) or OLD_PACKAGES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module is the already imported new one: nothing to run."""


_FINDER = _LegacyNames()


def accept_legacy_names() -> None:
    """Let pickles that name the old modules load; idempotent."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
