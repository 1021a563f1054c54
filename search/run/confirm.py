"""``hpo confirm``: retrain a sweep's top configurations with several seeds, as one more Ray Tune experiment.

The runs are a grid over (configuration, seed) in ``<sweep>/confirm/``, each a normal trial (the
same trainable, resources, checkpoints and W&B runs) with ``trainer.seed`` set; the results side
(:mod:`hpo.search.results.confirmation`) ranks the configurations by their mean. The caller hands in
the configurations (a sweep trial's id and values), read from the sweep's results, which this room
never imports.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from hpo.errors import ConfigError
from hpo.layout import CONFIRM_DIR, load_sweep_config
from hpo.params import CONFIRM_CANDIDATE, CONFIRM_SEED
from hpo.search.algorithms.schedulers import build_scheduler
from hpo.search.algorithms.searchers import SearchPlan
from hpo.search.config.schema import with_defaults
from hpo.search.run.sweep import PreparedSweep, run


def confirm(sweep_dir: str | Path, candidates: list[tuple[str, dict[str, Any]]], seeds: int, verbose: bool = True) -> Path:
    """Train each candidate ``(trial id, values)`` once per seed 0..seeds-1; returns the sweep folder.

    Raises:
        ConfigError: fewer than 2 seeds (a mean of one run has no interval), or no candidates.
    """
    if seeds < 2:
        raise ConfigError("--seeds", "must be at least 2: the interval of a mean needs two runs or more", value=seeds)
    if not candidates:
        raise ConfigError("--top-k", "no trial with an evaluation to confirm")
    sweep_dir = Path(sweep_dir).resolve()
    cfg = copy.deepcopy(with_defaults(load_sweep_config(sweep_dir)))
    cfg["scheduler"] = {**cfg["scheduler"], "name": "fifo"}  # every run to the end: the runs are compared, not raced
    cfg["sweep"]["budget"] = {key: None for key in cfg["sweep"]["budget"]}  # the sweep's budget was for the sweep
    space = {
        CONFIRM_CANDIDATE: tune.grid_search([{"trial": trial_id, "params": params} for trial_id, params in candidates]),
        CONFIRM_SEED: tune.grid_search(list(range(seeds))),
    }
    # as many runs at once as the sweep ran trials (searcher.max_concurrent; null: as the resources allow)
    plan = SearchPlan(BasicVariantGenerator(max_concurrent=cfg["searcher"]["max_concurrent"] or 0), space, num_samples=1)
    prepared = PreparedSweep(cfg, [], plan, build_scheduler(cfg["scheduler"]), sweep_dir)
    return run(prepared, verbose=verbose, experiment=CONFIRM_DIR)  # the sweep's own trainable reads each run's values
